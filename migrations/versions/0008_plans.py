"""list plans: partial indexes on the sort columns of the big lists (issue 10)

The page query of a big list walks one ``(sort column, id)`` index in either direction,
partial on live rows (``WHERE is_deleted = 0``) for soft-deleted tables; the boolean
``ix_*_is_deleted`` indexes go (they made the planner read every live row and sort), and
``ix_clients_import_job_id`` keeps only the rows of a running import (every query asks for
``import_job_id IS NULL``, which looked like a selective equality). models/base.py
``list_indexes`` declares the same indexes on the models.

Revision ID: 0008_plans
Revises: 0007_once
Create Date: 2026-12-01 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_plans'
down_revision = '0007_once'
branch_labels = None
depends_on = None

LIVE = {"sqlite_where": sa.text("is_deleted = 0"), "postgresql_where": sa.text("is_deleted = false")}
JOB_ROWS = {
    "sqlite_where": sa.text("import_job_id IS NOT NULL"),
    "postgresql_where": sa.text("import_job_id IS NOT NULL"),
}

#: soft-deleted tables: partial indexes ix_<table>_live_<column> (column, id)
LIVE_SORTS = {
    "clients": (
        "updated_at", "name", "area_id", "type_id", "star_id", "owner_id", "contact_name", "contact_mobile",
    ),
    "contract": ("number", "name", "amount", "starts_on", "ends_on"),
    "receipt": ("received_on", "number", "amount", "status"),
    "orders": ("ordered_on", "number", "status"),
}
#: other big tables: ix_<table>_<column>_id (column, id)
SORTS = {
    "linkmans": ("name", "position", "mobile"),
    "documentary": ("followed_at", "next_follow_at"),
    "appointment": ("scheduled_at", "remind_at", "status"),
    "invoice": ("issued_on", "number", "amount", "total", "status"),
    "sal_chance": (
        "title", "customer_name", "client_id", "stage_id", "success_rate", "expected_amount",
        "expected_close_on", "assigned_to_id", "status", "outcome", "created_by_id", "created_at",
    ),
    "quote": ("number", "discount_pct", "status", "valid_until", "created_at"),
}
#: the boolean indexes of the soft-delete mixin
BOOLEAN = ("users", "clients", "contract", "receipt", "orders", "product", "supplier", "expense_contract")


def upgrade():
    for table in BOOLEAN:
        op.drop_index(f"ix_{table}_is_deleted", table_name=table)
    op.drop_index("ix_clients_import_job_id", table_name="clients")
    op.create_index("ix_clients_import_job_id", "clients", ["import_job_id"], **JOB_ROWS)
    for table, columns in LIVE_SORTS.items():
        for column in columns:
            op.create_index(f"ix_{table}_live_{column}", table, [column, "id"], **LIVE)
    for table, columns in SORTS.items():
        for column in columns:
            op.create_index(f"ix_{table}_{column}_id", table, [column, "id"])


def downgrade():
    for table, columns in SORTS.items():
        for column in columns:
            op.drop_index(f"ix_{table}_{column}_id", table_name=table)
    for table, columns in LIVE_SORTS.items():
        for column in columns:
            op.drop_index(f"ix_{table}_live_{column}", table_name=table)
    op.drop_index("ix_clients_import_job_id", table_name="clients")
    op.create_index("ix_clients_import_job_id", "clients", ["import_job_id"])
    for table in BOOLEAN:
        op.create_index(f"ix_{table}_is_deleted", table, ["is_deleted"])
