"""service desk: feedback, report, assignment settings (issue 12) — reserved

Revision ID: 0016_service_desk
Revises: 0015_sla
Create Date: 2026-12-01 21:35:00

"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = "0016_service_desk"
down_revision = "0015_sla"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
