"""safe loads: period locks, run heartbeats (recognising killed runs)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('load_locks',
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('run_uid', sa.String(length=40), nullable=True),
    sa.Column('locked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('period', name=op.f('pk_load_locks'))
    )
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('host', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('pid', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.drop_column('pid')
        batch_op.drop_column('host')
        batch_op.drop_column('heartbeat_at')
    op.drop_table('load_locks')
