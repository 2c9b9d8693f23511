"""indexed search: FTS5 / pg_trgm, short Chinese fragments, pinyin (issue 10)

Revision ID: 0009_search
Revises: 0008_plans
Create Date: 2026-12-01 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_search'
down_revision = '0008_plans'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
