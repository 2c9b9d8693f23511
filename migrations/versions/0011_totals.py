"""order and contract totals kept beside their lines (issue 10)

Revision ID: 0011_totals
Revises: 0010_exports
Create Date: 2026-12-01 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_totals'
down_revision = '0010_exports'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
