"""the marketing e-mail ledger's worker columns (issue 13 items 4-5): email_log.claimed_at
(a row claimed by a worker and never confirmed is an interruption, not resent) and the
index the worker walks to find queued rows in order

Revision ID: 0020_mail_ledger
Revises: 0019_contribution_index
Create Date: 2026-12-02 07:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0020_mail_ledger"
down_revision = "0019_contribution_index"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_email_log_status_id", ["status", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_index("ix_email_log_status_id")
        batch_op.drop_column("claimed_at")
