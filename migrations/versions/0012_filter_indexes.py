"""composite indexes for filtered lists, redundant single-column indexes dropped (issue 10)

A filtered page of a big list (clients of one type, receipts of one client, …) with the
list's default sort seeks one ``(filter column, default sort column, id)`` index and walks
it: full indexes for foreign keys (they stand in for the key's single-column index, which
the key's checks need), partial on live rows (``is_deleted = 0``) for the other columns of
soft-deleted tables. The single-column indexes whose column now leads another index go
(cheaper writes and seeding). models/base.py ``filter_indexes`` and
``prune_covered_indexes`` declare the same on the models.

Revision ID: 0012_filter_indexes
Revises: 0011_totals
Create Date: 2026-12-01 18:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_filter_indexes'
down_revision = '0011_totals'
branch_labels = None
depends_on = None

LIVE = {"sqlite_where": sa.text("is_deleted = 0"), "postgresql_where": sa.text("is_deleted = false")}

#: table → (default sort of its list, full-index filter columns, live-index filter columns)
FILTERS = {
    "clients": ("updated_at", ("owner_id", "type_id", "star_id", "source_id", "area_id", "trade_id", "size_id"), ()),
    "linkmans": ("id", ("gender",), ()),
    "documentary": ("followed_at", ("type_id", "user_id"), ()),
    "appointment": ("scheduled_at", ("type_id", "status", "user_id"), ()),
    "contract": ("id", ("type_id", "owner_id", "client_id"), ("status",)),
    "receipt": ("received_on", ("client_id", "method_id", "department_id", "recorded_by_id"), ("status",)),
    "invoice": ("issued_on", ("status", "type_id", "tax_rate"), ()),
    "sal_chance": ("id", ("source_id",), ()),
    "quote": ("id", ("client_id", "owner_id"), ()),
    "orders": ("ordered_on", ("client_id", "owner_id"), ("status",)),
}
#: single-column indexes ix_<table>_<column> another index now starts with
COVERED = {
    "clients": (
        "area_id", "contact_mobile", "contact_name", "name", "owner_id", "size_id", "source_id", "star_id",
        "trade_id", "type_id", "updated_at",
    ),
    "linkmans": ("mobile", "name"),
    "documentary": ("followed_at", "next_follow_at", "type_id", "user_id"),
    "appointment": ("remind_at", "scheduled_at", "status", "type_id", "user_id"),
    "contract": ("client_id", "ends_on", "owner_id", "starts_on", "status", "type_id"),
    "receipt": ("client_id", "department_id", "method_id", "received_on", "recorded_by_id", "status"),
    "invoice": ("issued_on", "status", "type_id"),
    "sal_chance": (
        "assigned_to_id", "client_id", "created_at", "created_by_id", "customer_name", "expected_close_on",
        "outcome", "source_id", "stage_id", "status", "title",
    ),
    "quote": ("client_id", "created_at", "owner_id", "status"),
    "orders": ("client_id", "ordered_on", "owner_id", "status"),
}
#: two-column indexes the (column, default sort, id) ones replace
REPLACED = {
    "ix_clients_owner_updated": ("clients", ["owner_id", "updated_at"]),
    "ix_orders_client_ordered": ("orders", ["client_id", "ordered_on"]),
    "ix_orders_owner_ordered": ("orders", ["owner_id", "ordered_on"]),
}


def _filter_indexes():
    """(name, table, columns, partial) of every filter index, as models/base.py names them."""
    for table, (sort, full, live) in FILTERS.items():
        order = [sort, "id"] if sort != "id" else ["id"]
        suffix = "" if sort == "id" else f"_{sort}"
        for column in full:
            yield f"ix_{table}_{column}_{sort}", table, [column, *order], False
        for column in live:
            yield f"ix_{table}_live_{column}{suffix}", table, [column, *order], True


def upgrade():
    for name, (table, _) in REPLACED.items():
        op.drop_index(name, table_name=table)
    for table, columns in COVERED.items():
        for column in columns:
            op.drop_index(f"ix_{table}_{column}", table_name=table)
    for name, table, columns, partial in _filter_indexes():
        op.create_index(name, table, columns, unique=False, **(LIVE if partial else {}))


def downgrade():
    for name, table, _, _ in _filter_indexes():
        op.drop_index(name, table_name=table)
    for table, columns in COVERED.items():
        for column in columns:
            op.create_index(f"ix_{table}_{column}", table, [column], unique=False)
    for name, (table, columns) in REPLACED.items():
        op.create_index(name, table, columns, unique=False)
