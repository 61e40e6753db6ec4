"""Runs one stage of the monthly cycle in its own process and prints {"seconds", "cpu_seconds", "peak_mb"} as JSON.

Called by benchmarks/run.py; each stage in a fresh process so its peak memory is its own. Prints
wall seconds and the process's CPU seconds (user + system, Python start-up and imports included):
on a shared machine the CPU figure is the steadier one.
Usage: python benchmarks/stage.py STAGE DATA_DIR PERIOD OUT_DIR

A stage may add figures of its own to the JSON line through EXTRA (the ingest: the time spent
loading and the rows loaded; bulk_floor: the engine's own bulk-insert rate for the same rows).
Set FANGPIN_BENCH_PROFILE=FILE to write a cProfile of the stage to FILE.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

EXTRA: dict = {}


def io_floor(data: Path, period: str, out: Path) -> None:
    """Reads every feed of the delivery once: the floor under any stage that must read it."""
    from fangpin.feeds import FEED_ORDER
    from fangpin.read import find_file, read_feed

    for name in FEED_ORDER:
        path = find_file(data, name)
        if path:
            read_feed(path, name)


def validate_gx(data: Path, period: str, out: Path) -> None:
    from fangpin.validate import validate_delivery

    validate_delivery(data, period, out_dir=out, build_docs=False, store=False, write=False)


def validate_pandas(data: Path, period: str, out: Path) -> None:
    """validate_gx with the suites evaluated by plain vectorised pandas (fangpin.quality.evaluate:
    the same rules, the same failures) instead of Great Expectations: everything else (reading,
    check frames, reasons, typing the accepted rows, quarantine frames) is the same code, so the
    ratio of the two is the price of GX alone."""
    from fangpin.quality import evaluate, gx_run
    from fangpin.validate import validate_delivery

    def plain(checks, suites, params):
        return {name: (evaluate.evaluate_suite(frame, suites[name], params), None) for name, frame in checks.items()}

    gx_run.run_suites = plain
    validate_delivery(data, period, out_dir=out, build_docs=False, store=False, write=False)


def ingest(data: Path, period: str, out: Path) -> None:
    """The ingest; EXTRA gets the load's share (load_delivery, and within it the engine's bulk
    inserts) and the rows loaded, for the rows/s figure."""
    from fangpin import load, pipeline
    from fangpin.store import db

    real_load, real_insert = load.load_delivery, db.bulk_insert
    EXTRA.update(load_seconds=0.0, insert_seconds=0.0, rows=0)

    def timed_load(*a, **k):
        t0 = time.perf_counter()
        try:
            return real_load(*a, **k)
        finally:
            EXTRA["load_seconds"] += time.perf_counter() - t0

    def timed_insert(conn, table, frame):
        t0 = time.perf_counter()
        real_insert(conn, table, frame)
        EXTRA["insert_seconds"] += time.perf_counter() - t0
        EXTRA["rows"] += len(frame)

    load.load_delivery, db.bulk_insert = timed_load, timed_insert
    pipeline.ingest(data, period, out_dir=out, build_docs=True)
    EXTRA["engine"] = db.engine().dialect.name
    EXTRA["load_seconds"] = round(EXTRA["load_seconds"], 2)
    EXTRA["insert_seconds"] = round(EXTRA["insert_seconds"], 2)


def bulk_floor(data: Path, period: str, out: Path) -> None:
    """The engine's own bulk-insert rate for the rows the ingest loaded: every feed table's rows of
    the period copied into a plain table (no index, no constraint) of a scratch database/schema,
    by the driver alone: SQLite executemany on prepared tuples in one transaction, PostgreSQL
    COPY FROM STDIN of prepared CSV. Only the insert is timed."""
    import io

    from fangpin.store import db
    from fangpin.store.models import FEED_TABLES

    eng = db.engine()
    EXTRA.update(engine=eng.dialect.name, rows=0, insert_seconds=0.0)
    if eng.dialect.name == "sqlite":
        import sqlite3

        scratch = out.parent / "bulk_floor.db"
        scratch.unlink(missing_ok=True)
        raw = eng.raw_connection()
        try:
            dst = sqlite3.connect(scratch)
            dst.execute("PRAGMA journal_mode=WAL")
            for name, table in FEED_TABLES.items():
                cols = [c.name for c in table.columns]
                rows = raw.cursor().execute(f"SELECT {', '.join(cols)} FROM {table.name} WHERE period = ?",
                                            (period,)).fetchall()
                dst.execute(f"CREATE TABLE {table.name} ({', '.join(cols)})")
                t0 = time.perf_counter()
                with dst:
                    dst.executemany(f"INSERT INTO {table.name} VALUES ({', '.join('?' * len(cols))})", rows)
                EXTRA["insert_seconds"] += time.perf_counter() - t0
                EXTRA["rows"] += len(rows)
            dst.close()
        finally:
            raw.close()
            scratch.unlink(missing_ok=True)
    elif eng.dialect.name == "postgresql":
        raw = eng.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("DROP SCHEMA IF EXISTS bulk_floor CASCADE; CREATE SCHEMA bulk_floor")
            for name, table in FEED_TABLES.items():
                buf = io.StringIO()
                cur.copy_expert(f"COPY (SELECT * FROM {table.name} WHERE period = '{period}') TO STDOUT "
                                "WITH (FORMAT csv)", buf)
                cur.execute(f"CREATE TABLE bulk_floor.{table.name} (LIKE public.{table.name} "
                            "INCLUDING DEFAULTS)")
                raw.commit()
                buf.seek(0)
                t0 = time.perf_counter()
                cur.copy_expert(f"COPY bulk_floor.{table.name} FROM STDIN WITH (FORMAT csv)", buf)
                raw.commit()
                EXTRA["insert_seconds"] += time.perf_counter() - t0
                cur.execute(f"SELECT count(*) FROM bulk_floor.{table.name}")
                EXTRA["rows"] += cur.fetchone()[0]
            cur.execute("DROP SCHEMA bulk_floor CASCADE")
            raw.commit()
        finally:
            raw.close()
    EXTRA["insert_seconds"] = round(EXTRA["insert_seconds"], 2)


def screen(data: Path, period: str, out: Path) -> None:
    from fangpin import pipeline

    pipeline.screen_period(period, str(out), push_lists=True)


def audit(data: Path, period: str, out: Path) -> None:
    from fangpin import pipeline

    pipeline.audit_period(period, str(out))


def review(data: Path, period: str, out: Path) -> None:
    from fangpin import pipeline

    pipeline.review_period(period, str(out))


def sample(data: Path, period: str, out: Path) -> None:
    from fangpin import pipeline

    pipeline.sample_period(period, str(out), call_sheets=True)
    pipeline.derive_problems(period)


def _report(kind: str, period: str, out: Path) -> None:
    from fangpin import pipeline
    from fangpin.periods import Month, Week

    month = Month.parse(period)
    of = {"monthly": str(month), "weekly": str(Week.containing(month.end)), "quarterly": str(month.quarter)}
    pipeline.build_report(kind, of[kind], str(out))


# One report per process, as Airflow builds each in its own task (weekly, bulletin and quarterly
# DAGs): each one's peak memory is its own.
def monthly_report(data: Path, period: str, out: Path) -> None:
    _report("monthly", period, out)


def weekly_report(data: Path, period: str, out: Path) -> None:
    _report("weekly", period, out)


def quarterly_report(data: Path, period: str, out: Path) -> None:
    _report("quarterly", period, out)


def problem_lists(data: Path, period: str, out: Path) -> None:
    """Every township's problem-list PDF (the bulletin DAG's mapped write_township_problems)."""
    from fangpin import pipeline

    for code in pipeline.township_codes(period):
        pipeline.write_township_problems(period, code, str(out))


STAGES = {f.__name__: f for f in (io_floor, validate_gx, validate_pandas, ingest, bulk_floor, audit, screen,
                                  review, sample, problem_lists, weekly_report, monthly_report,
                                  quarterly_report)}

if __name__ == "__main__":
    stage, data, period, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    profile = os.environ.get("FANGPIN_BENCH_PROFILE")
    t0 = time.perf_counter()
    if profile:
        import cProfile

        cProfile.run("STAGES[stage](data, period, out)", profile)
    else:
        STAGES[stage](data, period, out)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"stage": stage, "seconds": round(seconds, 2), "peak_mb": round(usage.ru_maxrss / 1024),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2), **EXTRA}))
