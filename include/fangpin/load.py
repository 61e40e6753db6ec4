"""Loading a validated delivery into the monitoring database (data contract section 1,
"Loading a delivery safely"; docs/store.md).

One transaction per load, on SQLite and PostgreSQL alike:
1. the period's lock (fangpin.store.db.lock_period: an advisory lock on PostgreSQL, the
   period's load_locks row on SQLite) — two loads of one period take turns;
2. the held-delivery rule: when `households` or `members` is absent, rejected, empty, or
   delivers more than `ingest.hold_shrink_ratio` (a dated parameter, 10%) fewer rows than the
   latest earlier period loaded, the delivery is held: DeliveryHeld is raised, the transaction
   rolls back and nothing is replaced (`accept_partial=True` overrides);
3. the validation history and quarantine (when validate_delivery did not store them already);
4. each feed's rows of the period replaced by the accepted rows — except a feed rejected whole,
   whose previously loaded rows stay (its summary line says so).
A kill at any moment therefore leaves either the previous delivery or the new one current.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, func, select

from fangpin.feeds import FEED_ORDER, FEEDS
from fangpin.store.db import lock_period, replace_period
from fangpin.store.models import FEED_TABLES

log = logging.getLogger(__name__)
REGISTRY = ("households", "members")
REJECTED, NOT_DELIVERED = "拒收", "未提供"


class DeliveryHeld(Exception):
    """The delivery was held (nothing replaced); the message says why, in Chinese."""

    def __init__(self, period: str, reasons: list[str]):
        self.period = period
        self.reasons = reasons
        super().__init__(f"{period}期数据暂缓入库（未替换任何已入库数据）：{'；'.join(reasons)}。"
                         "核实后如确需入库，请加 --accept-partial")


def _rows_loaded(conn, feed: str, period: str) -> int:
    t = FEED_TABLES[feed]
    return int(conn.execute(select(func.count()).select_from(t).where(t.c.period == period)).scalar_one())


def _latest_earlier(conn, feed: str, period: str) -> tuple[str, int] | None:
    t = FEED_TABLES[feed]
    prev = conn.execute(select(func.max(t.c.period)).where(t.c.period < period)).scalar_one()
    return (prev, _rows_loaded(conn, feed, prev)) if prev else None


def held_reasons(conn, validation) -> list[str]:
    """Why the delivery must be held (empty when it may be loaded)."""
    from fangpin.params import param

    period = str(validation.period)
    out = []
    for name in REGISTRY:
        o = validation.outcomes.get(name)
        if o is None:  # a validation of other feeds only (e.g. the weekly feedback feeds)
            continue
        ratio = float(param("ingest.hold_shrink_ratio", validation.period.end))
        label = FEEDS[name].label
        if o.status == NOT_DELIVERED:
            out.append(f"{label}数据（{name}）未提供")
            continue
        if o.status == REJECTED:
            out.append(f"{label}数据（{name}）被拒收")
            continue
        if o.rows_accepted == 0:
            out.append(f"{label}数据（{name}）为空（通过行数为0）")
            continue
        prev = _latest_earlier(conn, name, period)
        if prev and prev[1] and o.rows_total < (1 - ratio) * prev[1]:
            drop = 1 - o.rows_total / prev[1]
            out.append(f"{label}数据（{name}）只有{o.rows_total}行，比{prev[0]}期已入库的{prev[1]}行"
                       f"少{drop:.1%}（超过{ratio:.0%}）")
    return out


def load_delivery(eng: Engine, validation, progress=None, accept_partial: bool = False) -> dict[str, int]:
    """Replaces the period's rows of the validation's feeds by their accepted rows (see the module
    docstring). Returns {feed: rows now loaded for the period}; raises DeliveryHeld."""
    period = str(validation.period)
    names = [n for n in FEED_ORDER if n in validation.outcomes]
    counts: dict[str, int] = {}
    with eng.begin() as conn:
        lock_period(conn, period, getattr(validation, "run_uid", None))
        reasons = held_reasons(conn, validation)
        if reasons and not accept_partial:
            raise DeliveryHeld(period, reasons)
        if reasons:
            log.warning("period %s loaded despite: %s (--accept-partial)", period, "；".join(reasons))
        kept = {}
        for name in names:
            if validation.outcomes[name].status == REJECTED:
                kept[name] = _rows_loaded(conn, name, period)
        for name, n in kept.items():
            o = validation.outcomes[name]
            note = (f"本次文件被拒收，保留此前已入库的本期{n}行" if n else "本次文件被拒收，本期没有此前已入库的数据")
            o.message = f"{o.message}；{note}" if o.message else note
        if not getattr(validation, "stored", True):
            from fangpin.quality.history import store_in
            from fangpin.validate import _sample

            store_in(conn, validation, getattr(validation, "failures", {}) or {}, _sample)
            validation.stored = True
        for i, name in enumerate(names):
            if name in kept:
                counts[name] = kept[name]
            else:
                counts[name] = replace_period(conn, name, period, validation.accepted(name))
            if progress:
                progress("load", i + 1, len(names))
    log.info("loaded period %s: %s", period, ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts
