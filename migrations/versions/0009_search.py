"""indexed search: FTS5 / pg_trgm, short Chinese fragments, pinyin (issue 10)

Revision ID: 0009_search
Revises: 0008_plans
Create Date: 2026-12-01 15:30:00

"""
from alembic import op
import sqlalchemy as sa

from models.search import (
    postgresql_ddl,
    postgresql_drop_ddl,
    search_keys,
    sqlite_ddl,
    sqlite_drop_ddl,
)


# revision identifiers, used by Alembic.
revision = '0009_search'
down_revision = '0008_plans'
branch_labels = None
depends_on = None

#: the indexed columns and pinyin columns of each table as of this revision (the models'
#: ``__search__`` / ``__search_pinyin__``; a later change of them needs a new revision)
TABLES = {
    'clients': (('name', 'uscc', 'phone', 'contact_name', 'contact_mobile'),
                {'name': 'company', 'contact_name': 'person'}),
    'linkmans': (('name', 'english_name', 'mobile', 'phone', 'email'), {'name': 'person'}),
    'contract': (('number', 'name'), {}),
    'receipt': (('number', 'bank_ref', 'payer'), {}),
    'invoice': (('number',), {}),
    'sal_chance': (('title', 'customer_name', 'linkman'), {'customer_name': 'company', 'linkman': 'person'}),
    'quote': (('number', 'notes'), {}),
    'orders': (('number', 'delivery_address'), {}),
}


def _fill_keys(bind, tablename, columns, pinyin):
    """search_pinyin / search_grams of the rows already there."""
    names = list(dict.fromkeys((*columns, *pinyin)))
    rows = bind.execute(sa.text(f"SELECT id, {', '.join(names)} FROM {tablename}")).mappings().all()
    updates = []
    for row in rows:
        keys = search_keys(row, columns, pinyin)
        updates.append({'row_id': row['id'], 'pinyin': keys[0], 'grams': keys[1]})
    if updates:
        bind.execute(sa.text(f"UPDATE {tablename} SET search_pinyin = :pinyin, search_grams = :grams "
                             "WHERE id = :row_id"), updates)


def upgrade():
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    for tablename, (columns, pinyin) in TABLES.items():
        op.add_column(tablename, sa.Column('search_pinyin', sa.Text(), server_default='', nullable=False))
        op.add_column(tablename, sa.Column('search_grams', sa.Text(), server_default='', nullable=False))
        _fill_keys(bind, tablename, columns, pinyin)
        if dialect == 'sqlite':
            for statement in sqlite_ddl(tablename, columns):
                op.execute(statement)
        elif dialect == 'postgresql':
            for statement in postgresql_ddl(tablename, columns):
                op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for tablename in TABLES:
        if dialect == 'sqlite':
            for statement in sqlite_drop_ddl(tablename):
                op.execute(statement)
        elif dialect == 'postgresql':
            for statement in postgresql_drop_ddl(tablename):
                op.execute(statement)
        with op.batch_alter_table(tablename, schema=None) as batch_op:
            batch_op.drop_column('search_grams')
            batch_op.drop_column('search_pinyin')
