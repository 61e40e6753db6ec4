"""The scale benchmark: a Xingbin-size county through one monthly cycle, stage by stage.

    .venv/bin/python benchmarks/run.py                      # 244,000 households (Xingbin)
    .venv/bin/python benchmarks/run.py --households 20000   # quicker look
    .venv/bin/python benchmarks/run.py --counties 2         # also two counties at once

Each stage runs in its own process (benchmarks/stage.py) so its time and peak memory are its own.
Writes the table into docs/benchmarks.md between the BENCHMARK markers.
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
CYCLE = ["ingest", "screen", "sample", "reports"]
LABELS = {
    "generate": "generate the county (fangpin generate)",
    "io_floor": "I/O floor: read every feed once",
    "validate_gx": "validate with GX (no Data Docs)",
    "validate_pandas": "same rules, plain vectorised pandas",
    "ingest": "ingest: validate (GX) + Data Docs + load",
    "screen": "screen R01–R12 + store + screening.csv + push lists",
    "sample": "spot-check draw + call sheets (xlsx + PDF) + problems",
    "reports": "render weekly, monthly, quarterly PDFs",
}


def run_stage(stage: str, data: Path, period: str, out: Path, env: dict) -> dict:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "stage.py"), stage, str(data), period, str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {stage:16s} {result['seconds']:8.1f} s  {result['peak_mb']:6d} MB", flush=True)
    return result


def generate(work: Path, period: str, households: int, seed: int, env: dict) -> tuple[Path, dict]:
    data = work / f"county-{seed}" / period
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fangpin", "generate", "--out", str(data), "--period", period,
                           "--households", str(households), "--seed", str(seed), "--quiet"],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    res = {"stage": "generate", "seconds": round(time.perf_counter() - t0, 2), "peak_mb": round(peak)}
    print(f"  generate         {res['seconds']:8.1f} s  {res['peak_mb']:6d} MB", flush=True)
    return data, res


def county_env(work: Path, name: str, db_url: str | None) -> dict:
    env = dict(os.environ)
    env["FANGPIN_HOME"] = str(work / name / "home")
    env["FANGPIN_OUTPUT_DIR"] = str(work / name / "output")
    env["FANGPIN_DB_URL"] = db_url or f"sqlite:///{work / name / 'fangpin.db'}"
    return env


def one_county(work: Path, name: str, period: str, households: int, seed: int, db_url: str | None,
               stages: list[str]) -> list[dict]:
    env = county_env(work, name, db_url)
    data, gen = generate(work / name, period, households, seed, env)
    out = work / name / "output" / period
    return [gen] + [run_stage(s, data, period, out, env) for s in stages]


def write_doc(rows: list[dict], args, extra: list[str]) -> None:
    cycle = sum(r["seconds"] for r in rows if r["stage"] in CYCLE)
    peak = max(r["peak_mb"] for r in rows if r["stage"] in CYCLE)
    by = {r["stage"]: r for r in rows}
    lines = [
        f"Measured {dt.date.today()} on {platform.node() or 'this machine'}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, apache-airflow {version('apache-airflow')}, "
        f"great-expectations {version('great-expectations')}, pandas {version('pandas')}, "
        f"SQLAlchemy {version('sqlalchemy')}; database: {args.db_url or 'SQLite'}.",
        f"County: {args.households:,} households, period {args.period}. Command: `{' '.join(sys.argv)}`.",
        "",
        "| stage | seconds | peak memory (MB) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {LABELS.get(r['stage'], r['stage'])} | {r['seconds']:.1f} | {r['peak_mb']:,} |" for r in rows]
    lines += [f"| **monthly cycle ({' + '.join(CYCLE)})** | **{cycle:.1f}** | **{peak:,}** |", ""]
    if "validate_gx" in by and "validate_pandas" in by:
        lines.append(f"- GX validation / plain pandas check of the same rules: "
                     f"**{by['validate_gx']['seconds'] / max(by['validate_pandas']['seconds'], 0.01):.1f}×**")
    if "io_floor" in by:
        lines.append(f"- Monthly cycle / I/O floor (reading the delivery once): "
                     f"**{cycle / max(by['io_floor']['seconds'], 0.01):.1f}×**")
    lines.append(f"- Targets: cycle under 120 s — {'met' if cycle < 120 else 'NOT met'}; "
                 f"peak under 4,096 MB — {'met' if peak < 4096 else 'NOT met'}.")
    lines += extra
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n\n<!-- BENCHMARK START -->\n<!-- BENCHMARK END -->\n"
    block = "<!-- BENCHMARK START -->\n" + "\n".join(lines) + "\n<!-- BENCHMARK END -->"
    text = re.sub(r"<!-- BENCHMARK START -->.*<!-- BENCHMARK END -->", lambda _: block, text, flags=re.S)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=244_000)
    ap.add_argument("--period", default="2026-10")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db-url", help="monitoring database (default: a fresh SQLite file)")
    ap.add_argument("--counties", type=int, default=1, help="also run this many counties at once")
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fangpin-bench-"))
    print(f"benchmark in {work}: {args.households:,} households", flush=True)
    rows = one_county(work, "county-a", args.period, args.households, args.seed, args.db_url,
                      ["io_floor", "validate_gx", "validate_pandas"] + CYCLE)
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
        write_doc(rows, args, extra)


if __name__ == "__main__":
    main()
