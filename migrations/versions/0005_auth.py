"""auth: revocable sessions (user_session) and the outcome of each login attempt (user_log.outcome)

Revision ID: 0005_auth
Revises: 0004_sales
Create Date: 2026-12-01 09:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_auth'
down_revision = '0004_sales'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('user_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_session_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    sa.UniqueConstraint('token', name=op.f('uq_user_session_token'))
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_session_user_id'), ['user_id'], unique=False)

    # existing rows: a success stays a success, every failure was a wrong name or password
    with op.batch_alter_table('user_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=12), server_default='password', nullable=False))
    op.execute(sa.text("UPDATE user_log SET outcome = 'success' WHERE success"))


def downgrade():
    with op.batch_alter_table('user_log', schema=None) as batch_op:
        batch_op.drop_column('outcome')

    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_session_user_id'))

    op.drop_table('user_session')
