"""The scale benchmark: a Xingbin-size county through one monthly cycle, stage by stage.

    .venv/bin/python benchmarks/run.py                      # 244,000 households (Xingbin)
    .venv/bin/python benchmarks/run.py --households 20000   # quicker look
    .venv/bin/python benchmarks/run.py --counties 2         # also two counties at once
    .venv/bin/python benchmarks/run.py --before /tmp/old/results.json   # a "before" column
    .venv/bin/python benchmarks/run.py --airflow            # then the month through a real Airflow

Each stage runs in its own process (benchmarks/stage.py) so its time and peak memory are its own.
The machine's load average is recorded beside each stage (other work on a 2-core machine shows).
When PostgreSQL answers on 127.0.0.1:5432 (user postgres, trust auth; --pg-url to change, --no-pg
to skip), the delivery is also loaded into a database of its own there, so both engines' load
rates stand beside their own bulk-insert figure (benchmarks/stage.py bulk_floor).
Writes WORK/results.json and the table into docs/benchmarks.md between the BENCHMARK markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
# The month's work in the order the ingest and bulletin DAGs run it.
CYCLE = ["ingest", "audit", "screen", "review", "sample", "problem_lists", "weekly_report", "monthly_report",
         "quarterly_report"]
REPORTS = ["problem_lists", "reports", "weekly_report", "monthly_report", "quarterly_report"]
LABELS = {
    "generate": "generate the county (fangpin generate)",
    "io_floor": "I/O floor: read every feed once",
    "validate_gx": "validate with GX (no Data Docs)",
    "validate_pandas": "same rules, plain vectorised pandas",
    "ingest": "ingest: validate (GX) + Data Docs + load",
    "bulk_floor": "SQLite bulk-insert floor: the same rows into a plain table (not in the cycle; whole stage)",
    "audit": "registry audit A01–A12 + store + audit.csv",
    "screen": "screen R01–R13 + store + screening.csv + push lists",
    "review": "decision review draw + review_draw.csv",
    "sample": "spot-check draw + call sheets (xlsx + PDF) + problems",
    "problem_lists": "township problem-list PDFs (all townships)",
    "reports": "render weekly, monthly, quarterly PDFs (one process)",
    "weekly_report": "周统计 PDF (the week of the month's last day)",
    "monthly_report": "月通报 PDF",
    "quarterly_report": "季度调度会材料 PDF",
    "pg_ingest": "ingest into PostgreSQL (not in the cycle)",
    "pg_bulk_floor": "PostgreSQL COPY floor: the same rows into a plain table (not in the cycle; whole stage)",
}
TARGET_CYCLE_S, TARGET_FLOOR_X, TARGET_PEAK_MB, TARGET_GX_X, TARGET_REPORTS_S = 60, 8, 1536, 1.3, 5


def load_avg() -> float:
    return round(os.getloadavg()[0], 2)


def run_stage(stage: str, data: Path, period: str, out: Path, env: dict, label: str | None = None) -> dict:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "stage.py"), stage, str(data), period, str(out)]
    load = load_avg()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["stage"] = label or stage
    result["load"] = max(load, load_avg())
    more = (f"  load {result['load_seconds']:.1f} s, inserts {result['insert_seconds']:.1f} s, {result['rows']:,} rows"
            if "load_seconds" in result else
            f"  {result['rows']:,} rows in {result['insert_seconds']:.1f} s" if "rows" in result else "")
    print(f"  {result['stage']:16s} {result['seconds']:8.1f} s  cpu {result.get('cpu_seconds', 0):7.1f} s  "
          f"{result['peak_mb']:6d} MB  "
          f"(load avg {result['load']:.2f}){more}", flush=True)
    return result


def postgres_url(url: str | None, work: Path) -> str | None:
    """A fresh database on the PostgreSQL server of `url` (default postgres@127.0.0.1:5432), or None
    when no server answers."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url or "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    name = f"fangpin_bench_{os.getpid()}"
    try:
        eng = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        eng.dispose()
    except Exception as exc:  # no server, no driver, no right to create: the SQLite figures only
        print(f"PostgreSQL not used ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})", flush=True)
        return None
    return base.set(database=name).render_as_string(hide_password=False)


def drop_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    u = make_url(url)
    eng = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {u.database} WITH (FORCE)"))
    eng.dispose()


def generate(work: Path, period: str, households: int, seed: int, env: dict) -> tuple[Path, dict]:
    data = work / f"county-{seed}" / period
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fangpin", "generate", "--out", str(data), "--period", period,
                           "--households", str(households), "--seed", str(seed), "--quiet"],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    res = {"stage": "generate", "seconds": round(time.perf_counter() - t0, 2), "peak_mb": round(peak),
           "load": load_avg()}
    print(f"  generate         {res['seconds']:8.1f} s  {res['peak_mb']:6d} MB  (load avg {res['load']:.2f})",
          flush=True)
    return data, res


def county_env(work: Path, name: str, db_url: str | None) -> dict:
    env = dict(os.environ)
    env["FANGPIN_HOME"] = str(work / name / "home")
    env["FANGPIN_OUTPUT_DIR"] = str(work / name / "output")
    env["FANGPIN_DB_URL"] = db_url or f"sqlite:///{work / name / 'fangpin.db'}"
    return env


def one_county(work: Path, name: str, period: str, households: int, seed: int, db_url: str | None,
               stages: list[str], pg_url: str | None = None) -> list[dict]:
    env = county_env(work, name, db_url)
    data, gen = generate(work / name, period, households, seed, env)
    out = work / name / "output" / period
    rows = [gen] + [run_stage(s, data, period, out, env) for s in stages]
    if pg_url:  # the same delivery loaded into PostgreSQL, beside PostgreSQL's own COPY rate
        pg_env = county_env(work, f"{name}-pg", pg_url)
        pg_out = work / f"{name}-pg" / "output" / period
        rows += [run_stage("ingest", data, period, pg_out, pg_env, label="pg_ingest"),
                 run_stage("bulk_floor", data, period, pg_out, pg_env, label="pg_bulk_floor")]
    return rows


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / max(seconds, 1e-6):,.0f} rows/s"


def summary_lines(rows: list[dict]) -> list[str]:
    """The ratios and targets under the table."""
    by = {r["stage"]: r for r in rows}
    cycle = sum(r["seconds"] for r in rows if r["stage"] in CYCLE)
    peak = max(r["peak_mb"] for r in rows if r["stage"] in CYCLE)
    out = []
    gx = None
    if "validate_gx" in by and "validate_pandas" in by:
        gx = by["validate_gx"]["seconds"] / max(by["validate_pandas"]["seconds"], 0.01)
        out.append(f"- GX validation / plain pandas check of the same rules: **{gx:.2f}×** "
                   f"(target ≤ {TARGET_GX_X}×: {'met' if gx <= TARGET_GX_X else 'NOT met'})")
    floor = None
    if "io_floor" in by:
        floor = cycle / max(by["io_floor"]["seconds"], 0.01)
        out.append(f"- Monthly cycle / I/O floor (reading the delivery once): **{floor:.1f}×** "
                   f"(target ≤ {TARGET_FLOOR_X}×: {'met' if floor <= TARGET_FLOOR_X else 'NOT met'})")
    for engine, ingest, bulk in (("SQLite", "ingest", "bulk_floor"), ("PostgreSQL", "pg_ingest", "pg_bulk_floor")):
        if ingest in by and "load_seconds" in by[ingest]:
            i = by[ingest]
            line = (f"- Load into {engine}: {i['rows']:,} rows in {i['load_seconds']:.1f} s "
                    f"({_rate(i['rows'], i['load_seconds'])}; the inserts alone {i['insert_seconds']:.1f} s, "
                    f"{_rate(i['rows'], i['insert_seconds'])})")
            if bulk in by:
                b = by[bulk]
                line += (f"; {engine}'s own bulk insert of the same rows into a plain table: "
                         f"{b['insert_seconds']:.1f} s, {_rate(b['rows'], b['insert_seconds'])} "
                         f"(load / bulk = {i['load_seconds'] / max(b['insert_seconds'], 0.01):.1f}×)")
            out.append(line)
    rep = sum(by[s]["seconds"] for s in REPORTS if s in by)
    out.append(f"- Targets: cycle ≤ {TARGET_CYCLE_S} s — {'met' if cycle <= TARGET_CYCLE_S else 'NOT met'} "
               f"({cycle:.1f} s); peak ≤ {TARGET_PEAK_MB:,} MB — {'met' if peak <= TARGET_PEAK_MB else 'NOT met'} "
               f"({peak:,} MB); reports (problem lists + weekly, monthly, quarterly) ≤ {TARGET_REPORTS_S} s — "
               f"{'met' if rep <= TARGET_REPORTS_S else 'NOT met'} ({rep:.1f} s).")
    return out


def write_doc(rows: list[dict], args, extra: list[str], before: list[dict] | None = None) -> None:
    cycle = sum(r["seconds"] for r in rows if r["stage"] in CYCLE)
    peak = max(r["peak_mb"] for r in rows if r["stage"] in CYCLE)
    old = {r["stage"]: r for r in before or []}
    lines = [
        f"Measured {dt.date.today()} on {platform.node() or 'this machine'}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, apache-airflow {version('apache-airflow')}, "
        f"great-expectations {version('great-expectations')}, pandas {version('pandas')}, "
        f"SQLAlchemy {version('sqlalchemy')}; database: {args.db_url or 'SQLite'}.",
        f"County: {args.households:,} households, period {args.period}. "
        f"Command: `{' '.join(['benchmarks/run.py'] + sys.argv[1:])}`.",
        "",
    ]
    cpu = lambda r: f"{r['cpu_seconds']:.1f}" if "cpu_seconds" in r else "—"  # noqa: E731
    if old:
        lines += ["| stage | before (s) | seconds | CPU seconds | peak memory (MB) | load avg |",
                  "|---|---:|---:|---:|---:|---:|"]
        b = lambda st: f"{old[st]['seconds']:.1f}" if st in old else "—"  # noqa: E731
    else:
        lines += ["| stage | seconds | CPU seconds | peak memory (MB) | load avg |", "|---|---:|---:|---:|---:|"]
        b = None
    for r in rows:
        cells = [LABELS.get(r["stage"], r["stage"])] + ([b(r["stage"])] if b else []) + \
                [f"{r['seconds']:.1f}", cpu(r), f"{r['peak_mb']:,}", f"{r.get('load', 0):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    # an earlier round built the three reports in one "reports" stage
    old_cycle = sum(r["seconds"] for r in before or [] if r["stage"] in CYCLE or r["stage"] == "reports")
    cycle_cpu = sum(r.get("cpu_seconds", 0) for r in rows if r["stage"] in CYCLE)
    cells = [f"**monthly cycle ({' + '.join(CYCLE)})**"] + ([f"{old_cycle:.1f}"] if b else []) + \
            [f"**{cycle:.1f}**", f"**{cycle_cpu:.1f}**", f"**{peak:,}**", ""]
    lines += ["| " + " | ".join(cells) + " |", ""]
    lines += summary_lines(rows)
    lines += extra
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n\n<!-- BENCHMARK START -->\n<!-- BENCHMARK END -->\n"
    block = "<!-- BENCHMARK START -->\n" + "\n".join(lines) + "\n<!-- BENCHMARK END -->"
    text = re.sub(r"<!-- BENCHMARK START -->.*<!-- BENCHMARK END -->", lambda _: block, text, flags=re.S)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=244_000)
    ap.add_argument("--period", default="2026-09", help="a quarter's last month, so the quarterly materials are built")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db-url", help="monitoring database (default: a fresh SQLite file)")
    ap.add_argument("--counties", type=int, default=1, help="also run this many counties at once")
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--pg-url", help="PostgreSQL server for the load comparison "
                                     "(default postgresql+psycopg2://postgres@127.0.0.1:5432/postgres)")
    ap.add_argument("--no-pg", action="store_true", help="do not load into PostgreSQL")
    ap.add_argument("--before", type=Path, help="results.json of an earlier run: a 'before' column")
    ap.add_argument("--airflow", action="store_true",
                    help="then the same county size through a real Airflow (benchmarks/airflow.py: scheduler, "
                         "LocalExecutor, PostgreSQL; its own section of docs/benchmarks.md)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fangpin-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"benchmark in {work}: {args.households:,} households", flush=True)
    pg = None if args.no_pg else postgres_url(args.pg_url, work)
    try:
        rows = one_county(work, "county-a", args.period, args.households, args.seed, args.db_url,
                          ["io_floor", "validate_gx", "validate_pandas", "ingest", "bulk_floor"] + CYCLE[1:], pg)
    finally:
        if pg:
            drop_postgres(pg)
    (work / "results.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    for line in summary_lines(rows):
        print(line)
    extra = []
    if args.counties > 1:
        print(f"{args.counties} counties at once:", flush=True)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.counties) as pool:
            futures = [pool.submit(one_county, work, f"parallel-{i}", args.period, args.households, 100 + i,
                                   None, CYCLE) for i in range(args.counties)]
            results = [f.result() for f in futures]
        wall = time.perf_counter() - t0
        cycles = [sum(r["seconds"] for r in res if r["stage"] in CYCLE) for res in results]
        extra.append(f"- {args.counties} counties at once (separate SQLite databases, generate included in the "
                     f"wall time): {wall:.1f} s wall; monthly cycle per county "
                     f"{', '.join(f'{c:.1f} s' for c in cycles)}.")
    if not args.no_write:
        before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None
        write_doc(rows, args, extra, before)
    if args.airflow:  # the month end to end through a real scheduler (needs PostgreSQL)
        cmd = [sys.executable, str(ROOT / "benchmarks" / "airflow.py"), "--households", str(args.households),
               "--seed", str(args.seed), "--work", str(work / "airflow")] + (["--no-write"] if args.no_write else [])
        print("the month through Airflow: " + " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
