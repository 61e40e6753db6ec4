"""The monitoring database: SQLAlchemy 2 table definitions.

Delivered data is stored as one snapshot per period: every feed table has the feed's
columns (declared once in fangpin.feeds) plus `period` (YYYY-MM) and `source_row` (the
line in the delivered file), so a history per month exists and re-loading a period
replaces exactly that period. The other tables hold what the stages derive.

The schema is owned by Alembic (migrations/); never call metadata.create_all in
production code.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer, MetaData,
                        Numeric, PrimaryKeyConstraint, String, Table, Text, JSON)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fangpin import feeds as F

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

Money = Numeric(14, 2, asdecimal=False)

_SQL_TYPES = {
    F.TEXT: lambda c: Text(),
    F.CODE: lambda c: String(12),
    F.ID_NUMBER: lambda c: String(18),
    F.PHONE: lambda c: String(20),
    F.COUNT: lambda c: Integer(),
    F.MONEY: lambda c: Money,
    F.DATE: lambda c: Date(),
    F.MONTH: lambda c: String(7),
    F.ENUM: lambda c: String(16),
    F.ENUM_LIST: lambda c: Text(),
}

# Columns added to a feed table besides the feed's own.
DERIVED = {
    "regions": [Column("township_code", String(9), nullable=False)],
    "households": [Column("township_code", String(9), nullable=False)],
}
INDEXED = {"household_id", "id_number", "village_code", "township_code", "problem_id"}


# Township feedback feeds also arrive weekly: their rows are keyed by the delivery, a month
# (YYYY-MM) or an ISO week (YYYY-Www, e.g. 2026-W46); see fangpin.feedback.
FEEDBACK_FEEDS = tuple(name for name, f in F.FEEDS.items() if f.feedback)


def _feed_table(feed: F.Feed) -> Table:
    cols = [
        Column("period", String(10), nullable=False, comment="delivery: month YYYY-MM or week YYYY-Www")
        if feed.feedback else Column("period", String(7), nullable=False, comment="delivery month YYYY-MM"),
        Column("source_row", Integer, nullable=False, comment="line in the delivered file (header = 1)"),
    ]
    for c in feed.columns:
        cols.append(Column(c.name, _SQL_TYPES[c.kind](c), nullable=not c.required, comment=c.zh))
    cols += [col.copy() for col in DERIVED.get(feed.name, [])]
    t = Table(feed.name, metadata, *cols, comment=f"{feed.department}：{feed.row}")
    t.append_constraint(PrimaryKeyConstraint("period", "source_row"))
    for c in t.columns:
        if c.name in INDEXED:
            Index(f"ix_{feed.name}_period_{c.name}", t.c.period, c)
    return t


FEED_TABLES: dict[str, Table] = {name: _feed_table(f) for name, f in F.FEEDS.items()}


class Base(DeclarativeBase):
    metadata = metadata


class PipelineRun(Base):
    """One run of a stage (validate, load, screen, sample, report, …) for a period.

    status: running | success | failed | held (a delivery held, nothing replaced) | abandoned
    (a run that was killed: still 'running' in the table, but its process is gone or its
    heartbeat is old; fangpin.pipeline.runs() reports it so, and the next run of the stage
    marks it so). host/pid name the process; heartbeat_at is refreshed while it works.
    """

    __tablename__ = "pipeline_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(10), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict | None] = mapped_column(JSON)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)


class LoadLock(Base):
    """One row per period: taken (written first) by every transaction that changes a period's
    delivery, so two loads of one period take turns on SQLite too (PostgreSQL also takes an
    advisory lock). run_uid names the validation that is current for the period."""

    __tablename__ = "load_locks"
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    run_uid: Mapped[str | None] = mapped_column(String(40))
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ValidationRun(Base):
    """The validation of one feed of one delivery: what auditors browse per department."""

    __tablename__ = "validation_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_uid: Mapped[str] = mapped_column(String(40), index=True)
    period: Mapped[str] = mapped_column(String(10), index=True)  # delivery: YYYY-MM or YYYY-Www
    feed: Mapped[str] = mapped_column(String(32), index=True)
    department: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(8))  # 通过 | 有隔离 | 未提供 | 拒收
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_accepted: Mapped[int] = mapped_column(Integer, default=0)
    rows_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    rows_unmatched: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    data_docs: Mapped[str | None] = mapped_column(Text)
    validated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)


class ValidationResult(Base):
    """One expectation's outcome within a ValidationRun (samples never hold full IDs)."""

    __tablename__ = "validation_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    validation_run_id: Mapped[int] = mapped_column(ForeignKey("validation_runs.id", ondelete="CASCADE"), index=True)
    expectation: Mapped[str] = mapped_column(String(128))
    column: Mapped[str | None] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)
    element_count: Mapped[int] = mapped_column(Integer, default=0)
    unexpected_count: Mapped[int] = mapped_column(Integer, default=0)
    sample: Mapped[list | None] = mapped_column(JSON)


class QuarantinedRow(Base):
    """A rejected row with its reasons and all its original values: nothing is lost."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(10), index=True)  # delivery: YYYY-MM or YYYY-Www
    feed: Mapped[str] = mapped_column(String(32))
    source_row: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict] = mapped_column(JSON)


class ScreeningResult(Base):
    """A household that hit at least one rule in a period."""

    __tablename__ = "screening_results"
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    township_code: Mapped[str] = mapped_column(String(9), index=True)
    village_code: Mapped[str] = mapped_column(String(12))
    rules: Mapped[str] = mapped_column(String(64))
    risk_level: Mapped[str] = mapped_column(String(2))
    already_monitored: Mapped[bool] = mapped_column(Boolean)
    explanation: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[str] = mapped_column(String(7))  # period the household was first suspected
    status: Mapped[str] = mapped_column(String(8))  # 新增疑似 | 持续疑似
    pushed_on: Mapped[dt.date] = mapped_column(Date)
    verify_by: Mapped[dt.date] = mapped_column(Date)
    # 2026 policy categories (flags, not rules; docs/screen.md): 低保边缘, 刚性支出型困难
    dibao_edge: Mapped[bool | None] = mapped_column(Boolean)
    rigid_expense: Mapped[bool | None] = mapped_column(Boolean)


class Problem(Base):
    """An entry of a township's problem list (问题清单)."""

    __tablename__ = "problems"
    problem_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), index=True)  # bulletin period that found it
    problem_type: Mapped[str] = mapped_column(String(16))
    township_code: Mapped[str] = mapped_column(String(9), index=True)
    village_code: Mapped[str | None] = mapped_column(String(12))
    household_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    found_on: Mapped[dt.date] = mapped_column(Date)
    deadline: Mapped[dt.date] = mapped_column(Date)  # deadline in force at the latest bulletin that listed it
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    closing_note: Mapped[str | None] = mapped_column(Text)
    # the day the closing rectification's delivery arrived (fangpin.feedback.arrived_on): a report
    # dated before it does not know the closure yet
    closed_known_on: Mapped[dt.date | None] = mapped_column(Date)
    notified_on: Mapped[dt.date | None] = mapped_column(Date)  # 通报日期: the bulletin that first listed it
    yellow_on: Mapped[dt.date | None] = mapped_column(Date)  # the weekly run that marked it 黄 (end of that week)
    red_on: Mapped[dt.date | None] = mapped_column(Date)  # the bulletin that made it 红


class SpotCheckDraw(Base):
    """One household drawn for the phone spot-check of a period."""

    __tablename__ = "spot_check_draws"
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    township_code: Mapped[str] = mapped_column(String(9), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    drawn_at: Mapped[dt.datetime] = mapped_column(DateTime)  # the draw day (sample.draw_day of the period)
    basis_period: Mapped[str | None] = mapped_column(String(7))  # households delivery the draw was made from


class WeeklyVillageDraw(Base):
    """The village drawn at random for a week's point-to-point check (点对点调度)."""

    __tablename__ = "weekly_village_draws"
    week: Mapped[str] = mapped_column(String(8), primary_key=True)  # 2026-W45
    village_code: Mapped[str] = mapped_column(String(12))
    seed: Mapped[int] = mapped_column(Integer)
    drawn_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ReportDelivery(Base):
    """A report emailed to one recipient: guards against sending twice."""

    __tablename__ = "report_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(String(32))  # weekly | monthly | quarterly | push_list | …
    period: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(255))
    attachment: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime)
    version: Mapped[int | None] = mapped_column(Integer)  # ReportVersion.version sent; NULL (before 0003) = 1

    __table_args__ = (Index("ix_report_deliveries_key", "report", "period", "recipient"),)


class ReportVersion(Base):
    """One version of a report as sent (1 = original, N = 更正版 N-1): content fingerprint, key
    figures and problems listed (summary), changes from the previous version, archived PDF."""

    __tablename__ = "report_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(String(32))  # weekly | monthly | quarterly | problems:<code> | push_list:<code>
    period: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict] = mapped_column(JSON)
    changes: Mapped[list] = mapped_column(JSON)
    attachment: Mapped[str] = mapped_column(String(255))
    archived: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (Index("uq_report_versions_key", "report", "period", "version", unique=True),)
class AuditResult(Base):
    """A household flagged by the registry audit (疑点数据核查, checks A01–A12) in a period."""

    __tablename__ = "audit_results"
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    household_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    township_code: Mapped[str] = mapped_column(String(9), index=True)
    village_code: Mapped[str] = mapped_column(String(12))
    checks: Mapped[str] = mapped_column(String(64))  # A01;A05
    explanation: Mapped[str] = mapped_column(Text)


class AuditCheckRun(Base):
    """One audit check's outcome in a period: run (with its count) or skipped (and why)."""

    __tablename__ = "audit_check_runs"
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))  # 已核查 | 未核查
    flagged: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)


class DecisionReviewDraw(Base):
    """A household drawn for the county's sample review of a period's decisions (拟纳入 / 拟消除)."""

    __tablename__ = "decision_review_draws"
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    decision: Mapped[str] = mapped_column(String(8), primary_key=True)  # 拟纳入 | 拟消除
    household_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    township_code: Mapped[str] = mapped_column(String(9), index=True)
    village_code: Mapped[str] = mapped_column(String(12))
    decision_month: Mapped[str] = mapped_column(String(7))
    candidates: Mapped[int] = mapped_column(Integer)  # the period's new decisions of this kind
    position: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    drawn_on: Mapped[dt.date] = mapped_column(Date)
