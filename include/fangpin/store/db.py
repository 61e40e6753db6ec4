"""Engine, migrations and period-replacing writes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pandas as pd
from sqlalchemy import Date, Engine, Integer, Numeric, create_engine, delete, event, select, update
from sqlalchemy.orm import Session

from fangpin.store.models import FEED_TABLES

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    eng = create_engine(url, future=True, pool_pre_ping=True)
    if eng.dialect.name == "sqlite":
        event.listen(eng, "connect", _sqlite_pragmas)
    return eng


def engine(url: str | None = None, migrate_schema: bool = True) -> Engine:
    """The monitoring database's engine, its schema migrated to the latest revision."""
    if url is None:
        from fangpin.config import settings

        url = settings().database_url
    eng = _engine(url)
    if migrate_schema:
        migrate(eng)
    return eng


_migrated: set[str] = set()


def alembic_config(eng: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", eng.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def migrate(eng: Engine, revision: str = "head") -> None:
    """Brings the schema to `revision` with Alembic (once per process and database)."""
    key = f"{eng.url.render_as_string(hide_password=False)}@{revision}"
    if key in _migrated:
        return
    from alembic import command

    cfg = alembic_config(eng)
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    _migrated.add(key)


@contextmanager
def session(eng: Engine | None = None):
    with Session(eng or engine(), expire_on_commit=False) as s, s.begin():
        yield s


def safe_url(url) -> str:
    """A database URL fit for a message: the password masked."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say nothing of it
        return "<invalid database URL>"


def lock_period(conn, period: str, run_uid: str | None = None) -> None:
    """Takes the period's load lock inside the caller's transaction (released at commit/rollback).

    Must be the transaction's first statement. PostgreSQL: a transaction-level advisory lock
    on the period (a second load waits for the first). SQLite: writing the period's row of
    load_locks takes the database's write lock at once, so a second writer waits (busy_timeout)
    instead of failing later in the middle of its work.
    """
    from sqlalchemy import text

    from fangpin.store.models import LoadLock

    now = dt.datetime.now()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:p))"), {"ns": _LOCK_NAMESPACE, "p": period})
    t = LoadLock.__table__
    done = conn.execute(update(t).where(t.c.period == period).values(locked_at=now)).rowcount
    if not done:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(t).values(period=period, locked_at=now).on_conflict_do_nothing())
        else:
            conn.execute(t.insert().prefix_with("OR IGNORE").values(period=period, locked_at=now))
    if run_uid:
        conn.execute(update(t).where(t.c.period == period).values(run_uid=run_uid))


_LOCK_NAMESPACE = 4515302


def replace_period(conn, feed: str, period: str, frame: pd.DataFrame) -> int:
    """Replaces a period's rows of a feed table by `frame` (inside the caller's transaction)."""
    table = FEED_TABLES[feed]
    conn.execute(delete(table).where(table.c.period == period))
    if frame.empty:
        return 0
    out = frame.reindex(columns=[c.name for c in table.columns]).copy()
    out["period"] = period
    out = _storable(out, table)
    bulk_insert(conn, table, out)
    return len(out)


def _storable(frame: pd.DataFrame, table) -> pd.DataFrame:
    """Columns as the database stores them: dates as ISO text, integers as Int64, NULL for missing."""
    out = {}
    for c in table.columns:
        s = frame[c.name]
        if isinstance(c.type, Date):
            d = pd.to_datetime(s)
            s = d.dt.strftime("%Y-%m-%d").astype(object).where(d.notna(), None)
        elif isinstance(c.type, Integer):
            s = pd.to_numeric(s).round().astype("Int64")
        elif isinstance(c.type, Numeric):
            s = pd.to_numeric(s).astype("float64")
        out[c.name] = s
    return pd.DataFrame(out, index=frame.index)


def bulk_insert(conn, table, frame: pd.DataFrame) -> None:
    """Inserts a frame of storable columns (see _storable) fast.

    PostgreSQL (psycopg2): COPY ... FROM STDIN in CSV. SQLite: the driver's executemany on plain
    tuples. Both skip SQLAlchemy's per-value processing, which made loading a Xingbin-size county
    take ~40 s (docs/benchmarks.md). Other databases: SQLAlchemy's executemany.

    COPY's NULL is CSV's default, an unquoted empty field (not `\\N`), and every value that is not
    NULL is written quoted (_copy_csv): a delivered `\\N`, an empty string or any other text
    arrives exactly as delivered.
    """
    cols = [c.name for c in table.columns]
    dialect = conn.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg2":
        buf = io.StringIO(_copy_csv(frame[cols]))
        names = ", ".join(dialect.identifier_preparer.quote(c) for c in cols)
        with conn.connection.dbapi_connection.cursor() as cur:
            cur.copy_expert(f"COPY {dialect.identifier_preparer.format_table(table)} ({names}) "
                            "FROM STDIN WITH (FORMAT csv)", buf)
        return
    values = [frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in cols]
    rows = list(zip(*values))
    if dialect.name == "sqlite":
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        for i in range(0, len(rows), 100_000):
            conn.exec_driver_sql(sql, rows[i:i + 100_000])
        return
    records = [dict(zip(cols, r)) for r in rows]
    for i in range(0, len(records), 50_000):
        conn.execute(table.insert(), records[i:i + 50_000])


def _copy_csv(frame: pd.DataFrame) -> str:
    """CSV for COPY: every non-NULL value quoted ("" doubled inside), NULL an unquoted empty field.

    One pandas to_csv (C writer) with every field quoted and NULL written as a quoted NUL
    character, then those quoted NULs replaced by nothing: 4× faster than assembling the lines
    column by column. A NUL never occurs in stored text (a control character, refused at
    validation; PostgreSQL text cannot hold it either), so no delivered value is touched."""
    if frame.empty:
        return ""
    text = frame.to_csv(index=False, header=False, quoting=csv.QUOTE_ALL, na_rep=_NUL, lineterminator="\n")
    return text.replace(f'"{_NUL}"', "")


_NUL = "\x00"


def read_feed(eng: Engine, feed: str, period: str, columns: list[str] | None = None,
              where: dict[str, str] | None = None) -> pd.DataFrame:
    """A period's accepted rows of a feed as loaded (dates as datetime64, money as float).
    `where`: column -> value, only the rows equal to it (e.g. one township's households: building
    the rows in Python is the cost of a read, so a filter in SQL saves most of it)."""
    table = FEED_TABLES[feed]
    names = list(columns) if columns else [c.name for c in table.columns]
    # `period` is the value asked for: not fetched (the driver makes one string object per row,
    # ~50 MB for the county's 911,000 members) but filled in, one shared string
    fetch = [n for n in names if n != "period"] or names
    stmt = select(*[table.c[n] for n in fetch]).where(table.c.period == period,
                                                      *[table.c[k] == v for k, v in (where or {}).items()])
    stmt = stmt.order_by(table.c.source_row)
    with eng.connect() as conn:
        df = pd.read_sql(stmt, conn)
    if "period" in names and "period" not in df:
        df.insert(names.index("period"), "period",
                  pd.Series(str(period), index=df.index, dtype=object if df.empty else "str"))
    from fangpin.feeds import DATE, FEEDS

    for c in FEEDS[feed].columns:
        if c.kind == DATE and c.name in df:
            df[c.name] = pd.to_datetime(df[c.name])
    return df


def periods_loaded(eng: Engine, feed: str = "households") -> list[str]:
    table = FEED_TABLES[feed]
    with eng.connect() as conn:
        return sorted(r[0] for r in conn.execute(select(table.c.period).distinct()))
