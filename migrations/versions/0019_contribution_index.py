"""the contribution report's covering index: client_id added to the live orders' index of
the dashboard's monthly chart (one index serves both; issue 11)

Revision ID: 0019_contribution_index
Revises: 0018_marketing
Create Date: 2026-12-02 02:00:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0019_contribution_index"
down_revision = "0018_marketing"
branch_labels = None
depends_on = None

NAME = "ix_orders_live_ordered_on_status_total"


def _create(columns):
    op.create_index(
        NAME,
        "orders",
        columns,
        sqlite_where=sa.text("is_deleted = 0"),
        postgresql_where=sa.text("is_deleted = false"),
    )


def upgrade():
    op.drop_index(NAME, table_name="orders")
    _create(["ordered_on", "status", "total", "owner_id", "client_id", "is_deleted"])


def downgrade():
    op.drop_index(NAME, table_name="orders")
    _create(["ordered_on", "status", "total", "owner_id", "is_deleted"])
