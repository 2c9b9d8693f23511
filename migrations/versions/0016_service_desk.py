"""service desk: the business time to the first response, for the service report (issue 12)

Revision ID: 0016_service_desk
Revises: 0015_sla
Create Date: 2026-12-01 21:35:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_service_desk"
down_revision = "0015_sla"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cst_service", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response_seconds", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("cst_service", schema=None) as batch_op:
        batch_op.drop_column("response_seconds")
