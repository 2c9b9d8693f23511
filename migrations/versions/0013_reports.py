"""report framework and dashboard: indexes / summary tables the reports need (issue 11)

Revision ID: 0013_reports
Revises: 0012_filter_indexes
Create Date: 2026-12-01 18:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_reports'
down_revision = '0012_filter_indexes'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
