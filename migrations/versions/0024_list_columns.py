"""the columns each user chose for a list (issue 14 item 5: wide lists)

Revision ID: 0024_list_columns
Revises: 0023_numbering
Create Date: 2026-12-02 07:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0024_list_columns"
down_revision = "0023_numbering"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_list_columns",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=60), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_list_columns_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "endpoint", name=op.f("pk_user_list_columns")),
    )


def downgrade():
    op.drop_table("user_list_columns")
