"""SLA (issue 12 item 3): the business calendar (working hours per weekday, dated holidays and
make-up working days), the SLA policies, the business time a ticket spent on hold, and the
users' "absent" flag that automatic assignment reads

Revision ID: 0015_sla
Revises: 0014_service
Create Date: 2026-12-01 21:35:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015_sla"
down_revision = "0014_service"
branch_labels = None
depends_on = None


def _stamp_columns():
    return (
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def _timestamps(table):
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f(f"ix_{table}_updated_at"), ["updated_at"], unique=False)


def upgrade():
    op.create_table('sla_working_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    *_stamp_columns(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_working_hours'))
    )
    with op.batch_alter_table('sla_working_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_working_hours_weekday'), ['weekday'], unique=False)
    _timestamps('sla_working_hours')
    op.create_table('sla_calendar_day',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    *_stamp_columns(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_calendar_day')),
    sa.UniqueConstraint('day', name=op.f('uq_sla_calendar_day_day'))
    )
    _timestamps('sla_calendar_day')
    op.create_table('sla_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('type_id', sa.Integer(), nullable=True),
    sa.Column('priority', sa.String(length=8), nullable=True),
    sa.Column('no_sla', sa.Boolean(), nullable=False),
    sa.Column('response_minutes', sa.Integer(), nullable=True),
    sa.Column('resolution_minutes', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    *_stamp_columns(),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_sla_policy_client_id_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['type_id'], ['system_service.id'], name=op.f('fk_sla_policy_type_id_system_service'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policy'))
    )
    with op.batch_alter_table('sla_policy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_policy_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_policy_type_id'), ['type_id'], unique=False)
    _timestamps('sla_policy')
    with op.batch_alter_table('cst_service', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sla_held_seconds', sa.Integer(), server_default=sa.text('0'), nullable=False))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('absent', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('absent')
    with op.batch_alter_table('cst_service', schema=None) as batch_op:
        batch_op.drop_column('sla_held_seconds')
    op.drop_table('sla_policy')
    op.drop_table('sla_calendar_day')
    op.drop_table('sla_working_hours')
