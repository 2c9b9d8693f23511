"""numbering by pattern (issue 14): the counter of document numbers is keyed by the
document table and the pattern's rendered stem (``HT2026{seq}``) instead of a prefix and
a day; existing counters keep counting under the stem of the pattern they numbered by
(``<prefix><yyyymmdd>-{seq}``); the lists' cache version (models/cache.py) keeps its
row under the stem ""

Revision ID: 0023_numbering
Revises: 0022_shipments
Create Date: 2026-12-02 07:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0023_numbering"
down_revision = "0022_shipments"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("number_sequence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stem", sa.String(length=80), nullable=True))
    day = "to_char(day, 'YYYYMMDD')" if op.get_bind().dialect.name == "postgresql" else "strftime('%Y%m%d', day)"
    op.execute(f"UPDATE number_sequence SET stem = prefix || {day} || '-{{seq}}' WHERE document <> 'cache_version'")
    op.execute("UPDATE number_sequence SET stem = '' WHERE document = 'cache_version'")  # models/cache.py
    with op.batch_alter_table("number_sequence", schema=None) as batch_op:
        batch_op.drop_constraint("uq_number_sequence_key", type_="unique")
        batch_op.alter_column("stem", existing_type=sa.String(length=80), nullable=False)
        batch_op.drop_column("prefix")
        batch_op.drop_column("day")
        batch_op.create_unique_constraint("uq_number_sequence_key", ["document", "stem"])


def downgrade():
    # the counters of documents are bookkeeping: the first number of a (document, prefix,
    # day) after the downgrade starts above the serials in use, so they may be dropped;
    # the cache version keeps its row (prefix "", day 1970-01-01)
    op.execute("DELETE FROM number_sequence WHERE document <> 'cache_version'")
    with op.batch_alter_table("number_sequence", schema=None) as batch_op:
        batch_op.drop_constraint("uq_number_sequence_key", type_="unique")
        batch_op.drop_column("stem")
        batch_op.add_column(sa.Column("prefix", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("day", sa.Date(), nullable=True))
    op.execute("UPDATE number_sequence SET prefix = '', day = '1970-01-01'")
    with op.batch_alter_table("number_sequence", schema=None) as batch_op:
        batch_op.alter_column("prefix", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column("day", existing_type=sa.Date(), nullable=False)
        batch_op.create_unique_constraint("uq_number_sequence_key", ["document", "prefix", "day"])
