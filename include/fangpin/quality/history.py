"""Validation history in the monitoring database: runs, expectation results, quarantined rows.

One ValidationRun per feed per validation (also for feeds not delivered or rejected, so a
department's history shows its missing months). A new run of a period's feed becomes the
current one (older runs is_current=False) and replaces that period's quarantined rows of the
feed. Samples of failing values are masked: no full ID or phone number is ever stored there.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, and_, delete, insert, select, update

from fangpin import feeds as F
from fangpin.store.models import QuarantinedRow, ValidationResult, ValidationRun



def store(eng: Engine, validation, feed_failures: dict[str, list], masker) -> None:
    """Stores a DeliveryValidation (+ per-feed failures for the expectation results) on its own.

    The ingest stores it with the loaded rows instead (fangpin.load: store_in, one transaction).
    """
    from fangpin.store.db import lock_period

    with eng.begin() as conn:
        lock_period(conn, str(validation.period))
        store_in(conn, validation, feed_failures, masker)


def store_in(conn, validation, feed_failures: dict[str, list], masker) -> None:
    """Stores a DeliveryValidation inside the caller's transaction (which holds the period's lock):
    new runs current, older runs of the same feeds not, the feeds' quarantined rows replaced."""
    period = str(validation.period)
    now = dt.datetime.now()
    t = ValidationRun.__table__
    if validation.outcomes:
        conn.execute(update(t).where(and_(t.c.period == period, t.c.feed.in_(list(validation.outcomes)),
                                          t.c.is_current.is_(True))).values(is_current=False))
    for name, o in validation.outcomes.items():
        feed = F.FEEDS[name]
        run_id = conn.execute(insert(ValidationRun.__table__).values(
            run_uid=validation.run_uid, period=period, feed=name, department=feed.department,
            file_name=o.file.name if o.file else None, status=o.status, rows_total=o.rows_total,
            rows_accepted=o.rows_accepted, rows_quarantined=o.rows_quarantined,
            rows_unmatched=o.rows_unmatched, message=o.message,
            data_docs=str(validation.data_docs) if validation.data_docs else None,
            validated_at=now, is_current=True,
        ).returning(ValidationRun.__table__.c.id)).scalar_one()
        results = [{
            "validation_run_id": run_id,
            "expectation": f.expectation["type"][:128],
            "column": _column_label(f.expectation)[:64],
            "success": len(f.rows) == 0,
            "element_count": int(f.element_count),
            "unexpected_count": int(len(f.rows)),
            "sample": masker(name, f) or None,
        } for f in feed_failures.get(name, [])]
        if results:
            conn.execute(insert(ValidationResult.__table__), results)
        conn.execute(delete(QuarantinedRow.__table__).where(and_(
            QuarantinedRow.period == period, QuarantinedRow.feed == name)))
        q = o.quarantine
        if len(q):
            raw_cols = [c for c in q.columns if c not in ("原因", "行号")]
            values = q[raw_cols].astype(object).where(q[raw_cols].notna(), None)
            rows = [{"period": period, "feed": name, "source_row": int(r), "reasons": why, "raw": raw}
                    for r, why, raw in zip(q["行号"], q["原因"], values.to_dict("records"))]
            for i in range(0, len(rows), 20_000):
                conn.execute(insert(QuarantinedRow.__table__), rows[i:i + 20_000])


def _column_label(expectation: dict) -> str:
    kw = expectation["kwargs"]
    if "column" in kw:
        return kw["column"]
    return f"{kw.get('column_A')},{kw.get('column_B')}"


def history(eng: Engine, feed: str | None = None, period: str | None = None, department: str | None = None,
            current_only: bool = False) -> pd.DataFrame:
    """Stored validation runs, newest first (one row per feed per validation)."""
    t = ValidationRun.__table__
    q = select(t)
    if feed:
        q = q.where(t.c.feed == feed)
    if period:
        q = q.where(t.c.period == str(period))
    if department:
        q = q.where(t.c.department == department)
    if current_only:
        q = q.where(t.c.is_current.is_(True))
    q = q.order_by(t.c.period.desc(), t.c.validated_at.desc(), t.c.id.desc())
    with eng.connect() as conn:
        return pd.read_sql(q, conn)


def results(eng: Engine, validation_run_id: int) -> pd.DataFrame:
    t = ValidationResult.__table__
    with eng.connect() as conn:
        return pd.read_sql(select(t).where(t.c.validation_run_id == validation_run_id).order_by(t.c.id), conn)


def quarantined(eng: Engine, period: str, feed: str | None = None) -> pd.DataFrame:
    t = QuarantinedRow.__table__
    q = select(t).where(t.c.period == str(period))
    if feed:
        q = q.where(t.c.feed == feed)
    with eng.connect() as conn:
        return pd.read_sql(q.order_by(t.c.feed, t.c.source_row), conn)
