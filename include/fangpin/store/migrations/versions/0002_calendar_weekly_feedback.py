"""calendar, weekly feedback deliveries, escalation

- feedback feed tables (inspections, verifications, spot_check_results, rectifications),
  quarantine and validation_runs: `period` widened to 10 characters, so weekly deliveries
  (YYYY-Www) are stored next to the monthly ones (YYYY-MM);
- problems: notified_on (通报日期), yellow_on, red_on;
- spot_check_draws: basis_period (the households delivery the draw was made from).

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

WIDENED = ("inspections", "verifications", "spot_check_results", "rectifications", "quarantine",
           "validation_runs")


FEEDBACK = WIDENED[:4]
OLD_COMMENT, NEW_COMMENT = "delivery month YYYY-MM", "delivery: month YYYY-MM or week YYYY-Www"


def upgrade() -> None:
    for table in WIDENED:
        comment = dict(comment=NEW_COMMENT, existing_comment=OLD_COMMENT) if table in FEEDBACK else {}
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("period", type_=sa.String(length=10), existing_type=sa.String(length=7),
                                  existing_nullable=False, **comment)
    with op.batch_alter_table("problems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notified_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("yellow_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("red_on", sa.Date(), nullable=True))
    with op.batch_alter_table("spot_check_draws", schema=None) as batch_op:
        batch_op.add_column(sa.Column("basis_period", sa.String(length=7), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spot_check_draws", schema=None) as batch_op:
        batch_op.drop_column("basis_period")
    with op.batch_alter_table("problems", schema=None) as batch_op:
        batch_op.drop_column("red_on")
        batch_op.drop_column("yellow_on")
        batch_op.drop_column("notified_on")
    for table in WIDENED:
        comment = dict(comment=OLD_COMMENT, existing_comment=NEW_COMMENT) if table in FEEDBACK else {}
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("period", type_=sa.String(length=7), existing_type=sa.String(length=10),
                                  existing_nullable=False, **comment)
