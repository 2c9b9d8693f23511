"""once-only steps and numbers: one live order per quote, document number counters

Revision ID: 0007_once
Revises: 0006_imports
Create Date: 2026-12-01 09:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_once'
down_revision = '0006_imports'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('number_sequence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document', sa.String(length=40), nullable=False),
    sa.Column('prefix', sa.String(length=20), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_number_sequence')),
    sa.UniqueConstraint('document', 'prefix', 'day', name='uq_number_sequence_key')
    )
    # a quote becomes one live order; an existing database with duplicates must be
    # cleaned up first (the upgrade stops here, naming the index)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('uq_orders_quote_id_live', ['quote_id'], unique=True,
                              sqlite_where=sa.text('is_deleted = 0'), postgresql_where=sa.text('NOT is_deleted'))


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('uq_orders_quote_id_live', sqlite_where=sa.text('is_deleted = 0'),
                            postgresql_where=sa.text('NOT is_deleted'))
    op.drop_table('number_sequence')
