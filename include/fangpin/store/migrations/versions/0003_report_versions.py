"""report versions (更正版): report_versions table, report_deliveries.version

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_versions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report', sa.String(length=32), nullable=False),
        sa.Column('period', sa.String(length=10), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('summary', sa.JSON(), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('attachment', sa.String(length=255), nullable=False),
        sa.Column('archived', sa.Text(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_report_versions')),
    )
    op.create_index('uq_report_versions_key', 'report_versions', ['report', 'period', 'version'], unique=True)
    with op.batch_alter_table('report_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('report_deliveries', schema=None) as batch_op:
        batch_op.drop_column('version')
    op.drop_index('uq_report_versions_key', table_name='report_versions')
    op.drop_table('report_versions')
