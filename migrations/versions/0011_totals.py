"""order and contract totals kept beside their lines (issue 10)

Revision ID: 0011_totals
Revises: 0010_exports
Create Date: 2026-12-01 15:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011_totals"
down_revision = "0010_exports"
branch_labels = None
depends_on = None

#: (table, column) of the money figures kept by models/totals.py: integer fen, 0 to start
KEPT = (
    ("orders", "total"),
    ("quote", "subtotal"),
    ("quote", "total"),
    ("contract", "received"),
    ("contract", "invoiced"),
)
LIVE = dict(sqlite_where=sa.text("is_deleted = 0"), postgresql_where=sa.text("NOT is_deleted"))


def upgrade():
    for table, column in KEPT:
        op.add_column(table, sa.Column(column, sa.BigInteger(), server_default=sa.text("0"), nullable=False))
    op.add_column("contract", sa.Column("received_last_on", sa.Date(), nullable=True))
    op.add_column("contract", sa.Column("invoiced_last_on", sa.Date(), nullable=True))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_total_live", ["total", "id"], unique=False, **LIVE)
    with op.batch_alter_table("quote", schema=None) as batch_op:
        batch_op.create_index("ix_quote_subtotal_id", ["subtotal", "id"], unique=False)
        batch_op.create_index("ix_quote_total_id", ["total", "id"], unique=False)
    backfill()


def backfill():
    """The figures from the aggregates, with the arithmetic of models/totals.py (the quote
    discount rounded half-up to the fen, in integers)."""
    false = "false" if op.get_bind().dialect.name == "postgresql" else "0"
    for parent, lines, key in (("orders", "orders_line", "order_id"), ("quote", "quote_line", "quote_id")):
        column = "total" if parent == "orders" else "subtotal"
        op.execute(
            f"UPDATE {parent} SET {column} = COALESCE((SELECT SUM(l.quantity * l.unit_price) "
            f"FROM {lines} l WHERE l.{key} = {parent}.id), 0)"
        )
    op.execute("UPDATE quote SET total = subtotal - (subtotal * discount_pct + 5000) / 10000")
    live = (
        f"FROM contract_receipt a JOIN receipt r ON r.id = a.receipt_id "
        f"WHERE a.contract_id = contract.id AND r.is_deleted = {false}"
    )
    issued = "FROM invoice i WHERE i.contract_id = contract.id AND i.status != 'voided'"
    op.execute(
        f"UPDATE contract SET received = COALESCE((SELECT SUM(a.amount) {live}), 0), "
        f"received_last_on = (SELECT MAX(r.received_on) {live}), "
        f"invoiced = COALESCE((SELECT SUM(i.total) {issued}), 0), "
        f"invoiced_last_on = (SELECT MAX(i.issued_on) {issued})"
    )


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_total_live", **LIVE)
    with op.batch_alter_table("quote", schema=None) as batch_op:
        batch_op.drop_index("ix_quote_total_id")
        batch_op.drop_index("ix_quote_subtotal_id")
    for table, columns in (
        ("orders", ["total"]),
        ("quote", ["subtotal", "total"]),
        ("contract", ["received", "invoiced", "received_last_on", "invoiced_last_on"]),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_column(column)
