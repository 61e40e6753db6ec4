"""Township feedback, monthly and weekly: the one reader of inspections, verifications, call
results and rectifications for a date range.

Townships report their feedback weekly (`<data_root>/weekly/<YYYY-Www>/`, ingested by
fangpin.weekly) and may also include it in the monthly delivery (`<data_root>/<YYYY-MM>/`).
Both land in the same feed tables, keyed by the delivery (`period` = `2026-10` or `2026-W46`).
`read_feedback` returns the rows *dated* in a range whatever delivery brought them, an exact
duplicate (same values in every column of the feed, e.g. a row sent weekly and again with the
month) counted once.

What is known when (data contract section 4): a report dated D reads only the deliveries that
had arrived by D (`known_by=D`), so re-running it after later deliveries reproduces it. A
delivery arrives on its scheduled run day (`arrived_on`): month M with the monthly ingest, day
screening.push_day of M+1; week W with the weekly run, the Monday after W. A row sent in
several deliveries counts from the earliest to arrive. See docs/weekly.md.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, select

from fangpin import feeds as F
from fangpin.params import day_of_next_month
from fangpin.periods import Week
from fangpin.store.models import FEED_TABLES, QuarantinedRow

# feed -> the column that dates a row
DATE_COLUMN = {
    "inspections": "inspect_date",
    "verifications": "verify_date",
    "spot_check_results": "check_date",
    "rectifications": "rectify_date",
}
FEEDBACK_FEEDS = tuple(DATE_COLUMN)


def arrived_on(delivery: str) -> dt.date:
    """The day a delivery is in: month YYYY-MM on day screening.push_day of the next month (the
    monthly ingest's scheduled day), week YYYY-Www on the Monday after the week (the weekly run)."""
    if "W" in str(delivery):
        return Week.parse(str(delivery)).end + dt.timedelta(days=1)
    return day_of_next_month(delivery, "screening.push_day")


def read_feedback(eng: Engine, feed: str, first: dt.date | None = None, last: dt.date | None = None,
                  columns: list[str] | None = None, known_by: dt.date | None = None) -> pd.DataFrame:
    """The accepted rows of a feedback feed dated in [first, last] (either bound optional), from
    every monthly and weekly delivery that had arrived by `known_by` (every delivery when None),
    exact duplicates counted once (the copy of the earliest delivery to arrive, then file row, is
    kept).

    Returns the feed's columns (dates as datetime64) plus `period` (the delivery that brought the
    row), `arrived_on` (its day, datetime64) and `source_row`, sorted by date, arrival and row;
    only `columns` (in that order) when given."""
    if feed not in DATE_COLUMN:
        raise KeyError(f"{feed!r} is not a feedback feed; feedback feeds: {', '.join(FEEDBACK_FEEDS)}")
    table = FEED_TABLES[feed]
    date_col = table.c[DATE_COLUMN[feed]]
    stmt = select(table)
    if first is not None:
        stmt = stmt.where(date_col >= first)
    if last is not None:
        stmt = stmt.where(date_col <= last)
    with eng.connect() as conn:
        df = pd.read_sql(stmt, conn)
    own = [c.name for c in F.FEEDS[feed].columns]
    for c in F.FEEDS[feed].columns:
        if c.kind == F.DATE:
            df[c.name] = pd.to_datetime(df[c.name])
    arrival = {p: arrived_on(p) for p in df["period"].unique()}
    df["arrived_on"] = pd.to_datetime(df["period"].map(arrival))
    if known_by is not None:
        df = df[df["arrived_on"] <= pd.Timestamp(known_by)]
    df = (df.sort_values([DATE_COLUMN[feed], "arrived_on", "period", "source_row"], kind="stable")
          .drop_duplicates(subset=own, keep="first").reset_index(drop=True))
    if columns is not None:
        return df[list(columns)]
    return df[[*own, "period", "arrived_on", "source_row"]]


def registry_known_by(eng: Engine, day: dt.date, before: str | None = None) -> str | None:
    """The registry (monthly delivery) a report or a weekly ingest on `day` works with: the latest
    loaded monthly delivery that had arrived by `day` (and is not after month `before`, when
    given). Without one (a system started with a later delivery): the earliest loaded, which no
    later delivery changes. None when nothing is loaded."""
    from fangpin.store.db import periods_loaded

    loaded = [p for p in periods_loaded(eng) if before is None or p <= before]
    known = [p for p in loaded if arrived_on(p) <= day]
    return known[-1] if known else (loaded[0] if loaded else None)


def deliveries_arrived(eng: Engine, after: dt.date, until: dt.date, feeds=FEEDBACK_FEEDS) -> list[str]:
    """The deliveries (months and weeks) that brought rows of `feeds`, accepted or quarantined, and
    arrived in (after, until]: the feedback of one reporting cycle (each delivery in exactly one)."""
    q = QuarantinedRow.__table__
    found: set[str] = set()
    with eng.connect() as conn:
        for feed in feeds:
            table = FEED_TABLES[feed]
            found.update(r[0] for r in conn.execute(select(table.c.period).distinct()))
        found.update(r[0] for r in conn.execute(select(q.c.period).where(q.c.feed.in_(list(feeds))).distinct()))
    return sorted(d for d in found if after < arrived_on(d) <= until)


def deliveries(eng: Engine, feed: str) -> list[str]:
    """The deliveries (months and weeks) holding rows of a feedback feed."""
    table = FEED_TABLES[feed]
    with eng.connect() as conn:
        return sorted(r[0] for r in conn.execute(select(table.c.period).distinct()))
