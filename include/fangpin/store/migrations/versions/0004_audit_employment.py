"""registry audit (audit_results, audit_check_runs), 人社 employment feed, optional households
columns 风险类型 / 风险消除方式, screening flags 低保边缘 / 刚性支出型困难, decision review draws and
the review_results feed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('employment',
    sa.Column('period', sa.String(length=7), nullable=False, comment='delivery month YYYY-MM'),
    sa.Column('source_row', sa.Integer(), nullable=False, comment='line in the delivered file (header = 1)'),
    sa.Column('id_number', sa.String(length=18), nullable=False, comment='身份证号'),
    sa.Column('employment_status', sa.String(length=16), nullable=False, comment='就业状态'),
    sa.Column('work_place', sa.String(length=16), nullable=True, comment='务工地点'),
    sa.Column('monthly_wage', sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=False, comment='月工资'),
    sa.Column('stat_month', sa.String(length=7), nullable=False, comment='统计月份'),
    sa.PrimaryKeyConstraint('period', 'source_row', name=op.f('pk_employment')),
    comment='人社局：一人一月的就业（务工）记录'
    )
    with op.batch_alter_table('employment', schema=None) as batch_op:
        batch_op.create_index('ix_employment_period_id_number', ['period', 'id_number'], unique=False)

    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.add_column(sa.Column('risk_types', sa.Text(), nullable=True, comment='风险类型'))
        batch_op.add_column(sa.Column('elimination_method', sa.String(length=16), nullable=True,
                                      comment='风险消除方式'))

    with op.batch_alter_table('screening_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dibao_edge', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('rigid_expense', sa.Boolean(), nullable=True))

    op.create_table('audit_results',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('household_id', sa.String(length=64), nullable=False),
    sa.Column('township_code', sa.String(length=9), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('checks', sa.String(length=64), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('period', 'household_id', name=op.f('pk_audit_results'))
    )
    with op.batch_alter_table('audit_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_results_township_code'), ['township_code'], unique=False)

    op.create_table('audit_check_runs',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('flagged', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('period', 'code', name=op.f('pk_audit_check_runs'))
    )


    op.create_table('review_results',
    sa.Column('period', sa.String(length=10), nullable=False, comment='delivery: month YYYY-MM or week YYYY-Www'),
    sa.Column('source_row', sa.Integer(), nullable=False, comment='line in the delivered file (header = 1)'),
    sa.Column('household_id', sa.Text(), nullable=False, comment='户编号'),
    sa.Column('review_date', sa.Date(), nullable=False, comment='审核日期'),
    sa.Column('conclusion', sa.String(length=16), nullable=False, comment='审核结论'),
    sa.Column('note', sa.Text(), nullable=True, comment='问题说明'),
    sa.PrimaryKeyConstraint('period', 'source_row', name=op.f('pk_review_results')),
    comment='县乡村振兴局：一户拟纳入或拟消除农户的县级抽样审核结果'
    )
    with op.batch_alter_table('review_results', schema=None) as batch_op:
        batch_op.create_index('ix_review_results_period_household_id', ['period', 'household_id'], unique=False)

    op.create_table('decision_review_draws',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('decision', sa.String(length=8), nullable=False),
    sa.Column('household_id', sa.String(length=64), nullable=False),
    sa.Column('township_code', sa.String(length=9), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('decision_month', sa.String(length=7), nullable=False),
    sa.Column('candidates', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('drawn_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('period', 'decision', 'household_id', name=op.f('pk_decision_review_draws'))
    )
    with op.batch_alter_table('decision_review_draws', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decision_review_draws_township_code'), ['township_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('decision_review_draws', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decision_review_draws_township_code'))
    op.drop_table('decision_review_draws')
    with op.batch_alter_table('review_results', schema=None) as batch_op:
        batch_op.drop_index('ix_review_results_period_household_id')
    op.drop_table('review_results')
    op.drop_table('audit_check_runs')
    with op.batch_alter_table('audit_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_results_township_code'))
    op.drop_table('audit_results')
    with op.batch_alter_table('screening_results', schema=None) as batch_op:
        batch_op.drop_column('rigid_expense')
        batch_op.drop_column('dibao_edge')
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_column('elimination_method')
        batch_op.drop_column('risk_types')
    with op.batch_alter_table('employment', schema=None) as batch_op:
        batch_op.drop_index('ix_employment_period_id_number')
    op.drop_table('employment')
