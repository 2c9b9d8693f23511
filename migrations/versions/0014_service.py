"""service tickets (issue 12): the cst_service table of SPEC §4.6 with its SLA clock and
feedback-link columns

Revision ID: 0014_service
Revises: 0013_reports
Create Date: 2026-12-01 21:30:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014_service"
down_revision = "0013_reports"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cst_service',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('request', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('assigned_to_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handling', sa.Text(), nullable=True),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('reopen_reason', sa.Text(), nullable=True),
    sa.Column('response_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_hold_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sla_seconds_used', sa.Integer(), nullable=True),
    sa.Column('sla_state', sa.String(length=10), nullable=False),
    sa.Column('sla_warned', sa.Integer(), nullable=False),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('feedback_reasons', sa.String(length=200), nullable=True),
    sa.Column('feedback_comment', sa.Text(), nullable=True),
    sa.Column('feedback_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('feedback_token_hash', sa.String(length=64), nullable=True),
    sa.Column('feedback_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['users.id'], name=op.f('fk_cst_service_assigned_to_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_cst_service_client_id_clients'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_cst_service_created_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['handled_by_id'], ['users.id'], name=op.f('fk_cst_service_handled_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['type_id'], ['system_service.id'], name=op.f('fk_cst_service_type_id_system_service'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cst_service')),
    sa.UniqueConstraint('feedback_token_hash', name=op.f('uq_cst_service_feedback_token_hash'))
    )
    with op.batch_alter_table('cst_service', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cst_service_assigned_to_id'), ['assigned_to_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_handled_by_id'), ['handled_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_priority'), ['priority'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_sla_state'), ['sla_state'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_type_id'), ['type_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cst_service_updated_at'), ['updated_at'], unique=False)


def downgrade():
    op.drop_table("cst_service")
