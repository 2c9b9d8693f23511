"""streaming exports run as background jobs (issue 10)

Revision ID: 0010_exports
Revises: 0009_search
Create Date: 2026-12-01 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_exports'
down_revision = '0009_search'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
