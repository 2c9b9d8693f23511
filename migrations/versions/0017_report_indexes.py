"""report and dashboard indexes (issue 11 leftovers) — reserved

Revision ID: 0017_report_indexes
Revises: 0016_service_desk
Create Date: 2026-12-01 21:35:00

"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = "0017_report_indexes"
down_revision = "0016_service_desk"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
