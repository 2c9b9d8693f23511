"""SLA: business calendar (working hours, holidays, make-up days), SLA policies (issue 12 item 3) — reserved

Revision ID: 0015_sla
Revises: 0014_service
Create Date: 2026-12-01 21:35:00

"""

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = "0015_sla"
down_revision = "0014_service"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
