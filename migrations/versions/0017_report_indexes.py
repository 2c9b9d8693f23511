"""report and dashboard indexes (issue 11 leftovers): the orders of a span of days summed
by month (the dashboard's 12-month chart, the reports' order sums) read a covering index
partial on live rows — (ordered_on, status, total, owner_id, is_deleted) — instead of every
order row

Revision ID: 0017_report_indexes
Revises: 0016_service_desk
Create Date: 2026-12-01 21:35:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017_report_indexes"
down_revision = "0016_service_desk"
branch_labels = None
depends_on = None

LIVE = {"sqlite_where": sa.text("is_deleted = 0"), "postgresql_where": sa.text("is_deleted = false")}


def upgrade():
    # the owner for the scope; is_deleted, although the predicate, for SQLite to cover the query
    columns = ["ordered_on", "status", "total", "owner_id", "is_deleted"]
    op.create_index("ix_orders_live_ordered_on_status_total", "orders", columns, **LIVE)


def downgrade():
    op.drop_index("ix_orders_live_ordered_on_status_total", table_name="orders")
