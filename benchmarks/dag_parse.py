"""Parse time of each DAG file, as Airflow's dag-processor sees it (target: under 0.5 s).

Each measurement is a fresh process that first imports Airflow's DagBag machinery (already
loaded in a running dag-processor), then times loading the one DAG file with DagBag — the
file's own imports (fangpin.orchestration, the SMTP notifier) included, cold. Prints a Markdown
table (median and worst of --repeat runs) for docs/benchmarks.md.

    python benchmarks/dag_parse.py [--repeat 5] [--no-write]

Also writes the table into docs/benchmarks.md between the DAGPARSE markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 0.5

PROBE = r"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk  # loaded in the dag-processor before any file is parsed
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
wall = time.perf_counter() - t0
stat = [s.duration.total_seconds() for s in bag.dagbag_stats]
print("RESULT " + json.dumps({"wall": wall, "airflow": stat[0] if stat else None,
                              "dags": len(bag.dags), "errors": list(bag.import_errors.values())}))
"""


def measure(path: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[7:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args(argv)
    home = tempfile.mkdtemp(prefix="fangpin-dagparse-")
    env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "PYTHONPATH": os.pathsep.join([str(REPO / "include"), os.environ.get("PYTHONPATH", "")])}
    rows, worst_all = [], 0.0
    for path in sorted((REPO / "dags").glob("*.py")):
        runs = [measure(path, env) for _ in range(args.repeat)]
        if any(r["errors"] for r in runs):
            print(f"{path.name}: import errors: {runs[0]['errors']}", file=sys.stderr)
            return 1
        times = [r["airflow"] if r["airflow"] is not None else r["wall"] for r in runs]
        med, worst = statistics.median(times), max(times)
        worst_all = max(worst_all, worst)
        rows.append(f"| `dags/{path.name}` | {runs[0]['dags']} | {med:.3f} | {worst:.3f} | "
                    f"{'yes' if worst < TARGET_S else '**no**'} |")
    lines = [f"DAG file parse time (Airflow's DagBag, cold process, {args.repeat} runs each; "
             f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores; "
             f"measured {dt.date.today()}). Command: `benchmarks/dag_parse.py --repeat {args.repeat}`.", "",
             "| DAG file | DAGs | median (s) | worst (s) | under 0.5 s |", "|---|---|---|---|---|", *rows]
    print("\n".join(lines))
    if not args.no_write:
        doc = REPO / "docs" / "benchmarks.md"
        block = "<!-- DAGPARSE START -->\n" + "\n".join(lines) + "\n<!-- DAGPARSE END -->"
        text = re.sub(r"<!-- DAGPARSE START -->.*<!-- DAGPARSE END -->", lambda _: block,
                      doc.read_text(encoding="utf-8"), flags=re.S)
        doc.write_text(text, encoding="utf-8")
    return 0 if worst_all < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
