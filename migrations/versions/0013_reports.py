"""report framework: account managers and sales directors get the receivables report (issue 11 item 7)

Rights are data (``flask seed`` creates the rights of new reports and grants them to the
seeded roles by the matrix in seed/reference.py). ``report.receivables`` already exists in an
upgraded database, so ``flask seed`` would not grant it again: this revision grants it to
the seeded roles ``sales_director`` and ``account_manager`` (their data scope limits what
they see). A database without those rows (not seeded yet) is left alone.

The client list gained an "annual revenue" filter (the composition report's drill-through):
its ``(revenue_band_id, updated_at, id)`` index replaces the single-column one, as 0012 did
for the list's other filters.

Revision ID: 0013_reports
Revises: 0012_filter_indexes
Create Date: 2026-12-01 18:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013_reports"
down_revision = "0012_filter_indexes"
branch_labels = None
depends_on = None

ROLES = ("sales_director", "account_manager")
RIGHT = "report.receivables"


def _pairs(bind):
    right = bind.execute(sa.text("SELECT id FROM sys_right WHERE code = :code"), {"code": RIGHT}).scalar()
    if right is None:
        return []
    roles = bind.execute(
        sa.text("SELECT id FROM sys_role WHERE code IN :codes").bindparams(sa.bindparam("codes", expanding=True)),
        {"codes": list(ROLES)},
    ).scalars()
    return [(role, right) for role in roles]


def upgrade():
    op.drop_index("ix_clients_revenue_band_id", table_name="clients")
    op.create_index(
        "ix_clients_revenue_band_id_updated_at", "clients", ["revenue_band_id", "updated_at", "id"], unique=False
    )
    bind = op.get_bind()
    for role, right in _pairs(bind):
        held = bind.execute(
            sa.text("SELECT 1 FROM sys_role_right WHERE role_id = :role AND right_id = :right"),
            {"role": role, "right": right},
        ).scalar()
        if not held:
            bind.execute(
                sa.text("INSERT INTO sys_role_right (role_id, right_id) VALUES (:role, :right)"),
                {"role": role, "right": right},
            )


def downgrade():
    op.drop_index("ix_clients_revenue_band_id_updated_at", table_name="clients")
    op.create_index("ix_clients_revenue_band_id", "clients", ["revenue_band_id"], unique=False)
    bind = op.get_bind()
    for role, right in _pairs(bind):
        bind.execute(
            sa.text("DELETE FROM sys_role_right WHERE role_id = :role AND right_id = :right"),
            {"role": role, "right": right},
        )
