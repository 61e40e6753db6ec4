"""The whole month through a real Airflow: scheduler, dag-processor and API server on a fresh
PostgreSQL metadata database, the county's delivery in the drop folder, and the clock running from
the moment the scheduler makes the month's run until the last task of the bulletin ends.

    .venv/bin/python benchmarks/airflow.py                        # Xingbin scale (244,000), LocalExecutor
    .venv/bin/python benchmarks/airflow.py --households 4000      # a smoke run (~3 min)
    .venv/bin/python benchmarks/airflow.py --celery 2             # the same on two Celery workers (Redis)
    .venv/bin/python benchmarks/airflow.py --province 10          # 10 counties, N/4..N households, on Celery
    .venv/bin/python benchmarks/airflow.py --fangpin-db sqlite    # monitoring database in SQLite

What runs (the processes come from tests/airflow_cluster.py, the same as tests/test_scheduler_runs.py):

1. `fangpin generate` writes a county of --households for the month (benchmarks/run.py's `generate`).
2. A Cluster starts: fresh PostgreSQL metadata database, `airflow scheduler`, `dag-processor`,
   `api-server` (and --celery workers over Redis on 127.0.0.1:6379), an SMTP inbox (aiosmtpd).
   The monitoring database is a fresh PostgreSQL database (dropped afterwards), or SQLite.
3. The month: `fangpin_monthly_bulletin` then `fangpin_monthly_ingest` are unpaused; the
   scheduler makes the ingest's scheduled run for the latest monthly slot (catchup=False), exactly
   as in production; its `fangpin_screening` asset event starts the bulletin. The spot-check draw
   (`fangpin_monthly_draw`) is not run: the bulletin's `sample` task makes the draw when the month
   was never drawn (as in tests/test_scheduler_runs.py).
   With --province the DAG is `fangpin_province_monthly` over COUNTIES counties, one mapped
   `county_month` task per county, on the Celery workers (--celery, default 2).
4. When the bulletin (or the province run) has finished, the task instances are read from the
   metadata database and the figures written: WORK/airflow_results.json, and unless --no-write the
   table in docs/benchmarks.md between this scenario's markers (AIRFLOW, AIRFLOW-CELERY,
   AIRFLOW-PROVINCE).

Why the period is the latest month (and not run.py's 2026-09): a run for an older month is a
"late run" (`fangpin.orchestration.mail_hold`): its send tasks skip SMTP, and the asset-triggered
bulletin cannot be given force_send. And a paused DAG does not run triggered runs, while
unpausing the ingest makes the scheduler's own run for the latest slot anyway. So the benchmark
lets the scheduler make that run — the month as it happens in production — and times it from the
run's creation (dag_run.queued_at, the moment the cron would fire).

The figures:
- wall time from the ingest run's creation to the bulletin run's end; per DAG run queued, wall;
- the sum of the task instances' durations (all tries, retries from task_instance_history);
- per task (mapped ones aggregated): count, total, max, and the mean queued -> start latency
  (queued_dttm to start_date: the executor picking the task up and starting its process);
- "idle" per run: the run's wall time minus the time at least one of its tasks was running, i.e.
  what scheduling between dependent tasks and task start-up add on the critical path;
- in-task work: from each task's own log, the time between the first and the last line the task
  process wrote (DAG file parsed, task code ran) vs the task instance's duration;
- the e-mails the inbox received, by kind.

Requires PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth; FANGPIN_TEST_PG names the
admin database, as for the tests) and, for --celery/--province, Redis on 127.0.0.1:6379.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
# This file is named airflow.py: its folder must not be on sys.path, or `import airflow` (in
# fangpin.orchestration) would import it. benchmarks/run.py is loaded by its path instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "include")]


def _load_run_py():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fangpin_bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


from airflow_cluster import Cluster, redis_reachable  # noqa: E402  (tests/)
from conftest import _drop_pg_database, _fresh_pg_database, postgres_reachable  # noqa: E402

_run_py = _load_run_py()
generate, load_avg = _run_py.generate, _run_py.load_avg  # benchmarks/run.py

INGEST, BULLETIN, PROVINCE = "fangpin_monthly_ingest", "fangpin_monthly_bulletin", "fangpin_province_monthly"
# Counties for --province: Laibin and Liuzhou (Guangxi); synthetic codes beyond these.
COUNTIES = [("451302", "兴宾区"), ("451321", "忻城县"), ("451322", "象州县"), ("451323", "武宣县"),
            ("451324", "金秀瑶族自治县"), ("451381", "合山市"), ("450206", "柳江区"), ("450222", "柳城县"),
            ("450223", "鹿寨县"), ("450224", "融安县"), ("450225", "融水苗族自治县"), ("450226", "三江侗族自治县")]
T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def latest_month() -> str:
    """The month of the monthly schedule's latest slot (06:00 on the 6th, Shanghai): the run the
    scheduler makes on unpause."""
    from zoneinfo import ZoneInfo

    from fangpin import orchestration as orch
    from fangpin.periods import Month

    now = dt.datetime.now(ZoneInfo(orch.TZ))
    month = Month(now.year, now.month).shift(-1)
    while orch.run_date("month", str(month)) > now:
        month = month.shift(-1)
    return str(month)


# ------------------------------------------------------------------ the counties

def make_county(work: Path, period: str, households: int, seed: int) -> tuple[Path, dict]:
    """`fangpin generate` as benchmarks/run.py does it: WORK/incoming/county-SEED/PERIOD."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    say(f"generating {households:,} households (seed {seed})")
    data, res = generate(work / "incoming", period, households, seed, env)
    return data, res


def province_file(work: Path, sizes: list[int], period: str, db: str) -> tuple[Path, list[dict], list[str]]:
    """Generates one county per size and writes the province YAML. Each county's drop folder is its
    generated folder; its monitoring database a fresh PostgreSQL one (returned, to drop) or the
    default SQLite file in its home."""
    import yaml

    counties, entries, pg_urls = [], [], []
    for i, households in enumerate(sizes):
        code, name = COUNTIES[i] if i < len(COUNTIES) else (f"4599{i:02d}", f"测试县{i}")
        data, gen = make_county(work, period, households, seed=20 + i)
        entry = {"county_code": code, "county": name, "leaders": [f"{code}@leaders.local"],
                 "data_dir": str(data.parent)}
        if db == "pg":
            entry["db_url"] = _fresh_pg_database()
            pg_urls.append(entry["db_url"])
        entries.append(entry)
        counties.append({"county_code": code, "county": name, "households": households,
                         "generate_s": gen["seconds"]})
    path = work / "province.yaml"
    path.write_text(yaml.safe_dump({"province": "广西", "counties": entries}, allow_unicode=True), encoding="utf-8")
    return path, counties, pg_urls


# ------------------------------------------------------------------ waiting, with progress

def runs(cluster: Cluster, dag_id: str) -> list[dict]:
    cols = ["run_id", "run_type", "state", "queued_at", "start_date", "end_date"]
    return [dict(zip(cols, r)) for r in cluster.query(
        f"SELECT {', '.join(cols)} FROM dag_run WHERE dag_id = :d ORDER BY id", d=dag_id)]


class Progress:
    """Prints each task instance's state changes (and a heartbeat while nothing changes)."""

    def __init__(self, cluster: Cluster):
        self.cluster, self.seen, self.quiet_since = cluster, {}, time.monotonic()
        self.worker = {}  # (dag_id, task_id, map_index, try_number) -> the Celery worker that ran it

    def __call__(self) -> None:
        rows = self.cluster.query("SELECT dag_id, task_id, map_index, state, try_number, rendered_map_index, pid "
                                  "FROM task_instance")
        changed = False
        workers = [name for name in self.cluster.procs if name.startswith("worker")]
        for dag_id, task, idx, state, tries, label, pid in rows:
            key = (dag_id, task, idx)
            if state == "running" and pid and (*key, tries) not in self.worker:
                for name in workers:  # the task process is a descendant of one worker
                    if pid in self.cluster.descendants(name):
                        self.worker[(*key, tries)] = name
            if self.seen.get(key) != (state, tries) and state in ("running", "success", "failed", "up_for_retry"):
                name = f"{dag_id.removeprefix('fangpin_')}.{task}" + (f"[{label or idx}]" if idx >= 0 else "")
                say(f"{name}: {state}" + (f" (try {tries})" if tries > 1 else ""))
                changed = True
            self.seen[key] = (state, tries)
        if changed:
            self.quiet_since = time.monotonic()
        elif time.monotonic() - self.quiet_since > 60:
            say(f"waiting... (load avg {load_avg():.2f})")
            self.quiet_since = time.monotonic()


def wait_run(cluster: Cluster, dag_id: str, progress: Progress, timeout: float) -> dict:
    """Polls until `dag_id` has a finished run; fails with the states and logs when it failed."""
    def finished():
        progress()
        done = [r for r in runs(cluster, dag_id) if r["state"] in ("success", "failed")]
        if done and done[0]["state"] == "failed":
            states = cluster.query("SELECT task_id, map_index, state, try_number FROM task_instance "
                                   "WHERE dag_id = :d AND state <> 'success'", d=dag_id)
            raise SystemExit(f"{dag_id} failed: {states}\n{cluster.tail()}")
        return done[0] if done else None

    return cluster.wait(f"{dag_id} to finish", finished, timeout, every=2.0)


# ------------------------------------------------------------------ the figures

def seconds(a, b) -> float | None:
    return None if a is None or b is None else round((b - a).total_seconds(), 2)


def task_instances(cluster: Cluster, dag_id: str) -> list[dict]:
    """Every try of every task instance of the DAG: earlier tries from task_instance_history."""
    cols = ["task_id", "map_index", "rendered_map_index", "state", "try_number", "scheduled_dttm", "queued_dttm",
            "start_date", "end_date", "duration", "hostname"]
    sql = f"SELECT {', '.join(cols)} FROM {{}} WHERE dag_id = :d"
    rows = cluster.query(sql.format("task_instance"), d=dag_id) + cluster.query(sql.format("task_instance_history"),
                                                                                 d=dag_id)
    tis = [dict(zip(cols, r)) for r in rows]
    for ti in tis:
        ti["to_queue"] = seconds(ti["scheduled_dttm"], ti["queued_dttm"])  # ready -> handed to the executor
        ti["latency"] = seconds(ti["queued_dttm"], ti["start_date"])
        ti["duration"] = float(ti["duration"] or 0)
    return tis


def busy_seconds(tis: list[dict]) -> float:
    """How long at least one task instance was running (the union of their intervals)."""
    spans = sorted((t["start_date"], t["end_date"]) for t in tis if t["start_date"] and t["end_date"])
    total, cur_start, cur_end = 0.0, None, None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += (cur_end - cur_start).total_seconds()
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += (cur_end - cur_start).total_seconds()
    return round(total, 2)


def task_code_span(cluster: Cluster, dag_id: str, ti: dict) -> tuple | None:
    """(start, end) of the task's own code, from its log: the task runner closes the
    "Pre Execute" group (process started, DAG file parsed) just before calling the task's
    function and opens "Post Execute" just after it returns. None when the log has no such lines."""
    pattern = (f"dag_id={dag_id}/run_id=*/task_id={ti['task_id']}/"
               + (f"map_index={ti['map_index']}/" if ti["map_index"] >= 0 else "") + f"attempt={ti['try_number']}.log")
    logs = list((Path(cluster.env["AIRFLOW_HOME"]) / "logs").glob(pattern))
    if len(logs) != 1:
        return None
    start = end = None
    for line in logs[0].read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        stamp = event.get("timestamp") if isinstance(event, dict) else None
        if not stamp:
            continue
        when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        if event.get("event") == "::endgroup::" and start is None:
            start = when
        elif event.get("event") == "::group::Post Execute":
            end = when
    return (start, end) if start and end else None


def per_task(cluster: Cluster, dag_id: str, tis: list[dict]) -> list[dict]:
    """One row per task (mapped instances aggregated), in the order the tasks started."""
    groups = defaultdict(list)
    for ti in tis:
        span = task_code_span(cluster, dag_id, ti)
        ti["work"] = seconds(*span) if span else None  # the task's own code
        # before it: process start-up and the DAG file parse; after it: XCom push, state to the API
        ti["before_code"] = seconds(ti["start_date"], span[0]) if span else None
        ti["after_code"] = seconds(span[1], ti["end_date"]) if span else None
        groups[ti["task_id"]].append(ti)
    rows = []
    for task, group in groups.items():
        lat = [t["latency"] for t in group if t["latency"] is not None]
        work = [t["work"] for t in group if t["work"] is not None]
        rows.append({
            "dag_id": dag_id, "task": task, "count": len(group),
            "tries": sum(1 for t in group) - len({t["map_index"] for t in group}),  # retries
            "total_s": round(sum(t["duration"] for t in group), 2),
            "max_s": round(max(t["duration"] for t in group), 2),
            "latency_mean_s": round(sum(lat) / len(lat), 2) if lat else None,
            "latency_max_s": round(max(lat), 2) if lat else None,
            "to_queue_mean_s": round(sum(t["to_queue"] or 0 for t in group) / len(group), 2),
            "work_s": round(sum(work), 2) if len(work) == len(group) else None,
            "before_code_s": round(sum(t["before_code"] or 0 for t in group), 2),
            "after_code_s": round(sum(t["after_code"] or 0 for t in group), 2),
            "first_start": min((t["start_date"] for t in group if t["start_date"]), default=None),
            "workers": sorted({t["worker"] for t in group if t["worker"]}),
        })
    rows.sort(key=lambda r: (r["first_start"] is None, r["first_start"]))
    return rows


def run_figures(cluster: Cluster, dag_id: str, run: dict, progress: Progress) -> dict:
    tis = task_instances(cluster, dag_id)
    for ti in tis:
        ti["worker"] = progress.worker.get((dag_id, ti["task_id"], ti["map_index"], ti["try_number"]))
    wall = seconds(run["start_date"], run["end_date"])
    busy = busy_seconds(tis)
    lat = [t["latency"] for t in tis if t["latency"] is not None]
    figures = {
        "dag_id": dag_id, "run_id": run["run_id"], "run_type": run["run_type"],
        "queued_to_start_s": seconds(run["queued_at"], run["start_date"]), "wall_s": wall,
        "task_instances": len(tis), "task_seconds": round(sum(t["duration"] for t in tis), 2),
        "busy_s": busy, "idle_s": round(wall - busy, 2) if wall is not None else None,
        "latency_total_s": round(sum(lat), 2),
        "tasks": per_task(cluster, dag_id, tis),  # also sets each instance's "work"
        "instances": [{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in t.items()} for t in tis],
    }
    work = [t["work"] for t in tis]
    figures["work_s"] = round(sum(work), 2) if None not in work else None
    return figures


def celery_worker_seconds(cluster: Cluster) -> dict | None:
    """What the Celery workers spent per task message (`execute_workload ... succeeded in X s` in
    their logs): the task instance's duration plus the task process's start and exit around it."""
    found = []
    for log in sorted(cluster.logs.glob("worker*.log")):
        found += [float(x) for x in re.findall(r"execute_workload\[[^]]+\] succeeded in ([0-9.]+)s",
                                                log.read_text(errors="replace"))]
    return {"tasks": len(found), "seconds": round(sum(found), 2)} if found else None


def mail_kinds(messages: list[tuple]) -> dict:
    kinds = Counter()
    for _, subject in messages:
        kind = next((k for k in ("故障", "月通报", "推送清单", "问题清单", "抽查") if k in subject), "other")
        kinds[kind] += 1
    return {"total": len(messages), "by_kind": dict(kinds),
            "sent_twice": sum(n - 1 for n in Counter(messages).values() if n > 1)}


# ------------------------------------------------------------------ the scenarios

def month_scenario(cluster: Cluster, args, timeout: float) -> dict:
    """One county: unpause the bulletin, then the ingest (the scheduler makes its run); wait for both."""
    cluster.up(dags=[INGEST, BULLETIN], workers=args.celery)
    say("Airflow is up; unpausing the bulletin, then the ingest (the scheduler makes the month's run)")
    cluster.unpause(BULLETIN)
    unpaused = dt.datetime.now(dt.timezone.utc)
    cluster.unpause(INGEST)
    progress = Progress(cluster)
    ingest = wait_run(cluster, INGEST, progress, timeout)
    bulletin = wait_run(cluster, BULLETIN, progress, timeout)
    say("the month is done; reading the metadata database")
    figures = [run_figures(cluster, INGEST, ingest, progress), run_figures(cluster, BULLETIN, bulletin, progress)]
    (screened,), = cluster.query("SELECT end_date FROM task_instance WHERE dag_id = :d AND task_id = 'screen'", d=INGEST)
    wall = seconds(ingest["queued_at"], bulletin["end_date"])
    # the two runs overlap (the bulletin starts while the ingest sends its push lists): the time no
    # task of either was running is what scheduling and start-up add to the month
    busy = busy_seconds(task_instances(cluster, INGEST) + task_instances(cluster, BULLETIN))
    return {
        "wall_s": wall, "busy_s": busy, "idle_s": round(wall - busy, 2),
        "unpause_to_run_s": seconds(unpaused, ingest["queued_at"]),
        # the screen task emits the asset event; the scheduler then makes the bulletin's run
        "asset_gap_s": seconds(screened, bulletin["queued_at"]),
        "runs": figures,
    }


def province_scenario(cluster: Cluster, args, timeout: float, counties: list[dict]) -> dict:
    cluster.up(dags=[PROVINCE], workers=args.celery)
    say(f"Airflow is up with {args.celery} Celery workers; unpausing {PROVINCE}")
    cluster.unpause(PROVINCE)
    progress = Progress(cluster)
    run = wait_run(cluster, PROVINCE, progress, timeout)
    say("the province month is done; reading the metadata database")
    figures = run_figures(cluster, PROVINCE, run, progress)
    by_code = {c["county_code"]: c for c in counties}
    for ti in sorted(figures["instances"], key=lambda t: t["try_number"]):  # the last try's figures win
        if ti["task_id"] == "county_month" and ti["rendered_map_index"] in by_code:
            c = by_code[ti["rendered_map_index"]]
            c.update(seconds=round(ti["duration"], 2), latency_s=ti["latency"], worker=ti["worker"],
                     tries=max(c.get("tries", 0), ti["try_number"]))
    return {"wall_s": seconds(run["queued_at"], run["end_date"]), "runs": [figures], "counties": counties}


# ------------------------------------------------------------------ the doc

def fmt(v, spec=".1f") -> str:
    return "—" if v is None else format(v, spec)


def doc_lines(res: dict, args) -> list[str]:
    if args.province:
        scale = f"{args.province} counties of {args.households // 4:,}–{args.households:,} households"
    else:
        scale = ("smoke run (small scale, not the Xingbin figure)" if args.households < 244_000 else "Xingbin scale")
    setup = (f"CeleryExecutor, {args.celery} workers (concurrency 1 each)" if args.celery else "LocalExecutor")
    lines = [
        f"**{scale}.** Measured {dt.date.today()} on {platform.node() or 'this machine'}: {os.cpu_count()} cores, "
        f"apache-airflow {version('apache-airflow')}, {setup}, parallelism 4, metadata database PostgreSQL, "
        f"monitoring database {'PostgreSQL' if args.fangpin_db == 'pg' else 'SQLite'}. "
        f"Period {res['period']}, load average {res['load_before']:.2f} before and {res['load_after']:.2f} after. "
        f"Command: `{' '.join(['benchmarks/airflow.py'] + sys.argv[1:])}`.",
        "",
    ]
    if args.province:
        lines += [f"Province: {len(res['counties'])} counties, "
                  f"{sum(c['households'] for c in res['counties']):,} households in all. "
                  f"**Wall time from the run's creation to its end: {fmt(res['wall_s'])} s.**", "",
                  "| county | households | county_month (s) | queued → start (s) | worker | tries |",
                  "|---|---:|---:|---:|---|---:|"]
        for c in res["counties"]:
            lines.append(f"| {c['county_code']} {c['county']} | {c['households']:,} | {fmt(c.get('seconds'))} | "
                         f"{fmt(c.get('latency_s'))} | {c.get('worker') or '—'} | {c.get('tries', '—')} |")
        lines.append("")
    else:
        lines += [f"County: {args.households:,} households. **Wall time from the ingest run's creation (the "
                  f"cron firing) to the bulletin's end: {fmt(res['wall_s'])} s.** The bulletin's run was made "
                  f"{fmt(res['asset_gap_s'])} s after the screen task (the asset event) ended. Some task of "
                  f"the month was running for {fmt(res['busy_s'])} s of it; none for {fmt(res['idle_s'])} s.", ""]
    lines += ["| DAG run | queued → start (s) | wall (s) | task instances | sum of task durations (s) | "
              "of which task code (s) | a task of the run running (s) | none running (s) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["runs"]:
        lines.append(f"| {r['dag_id']} ({r['run_type']}) | {fmt(r['queued_to_start_s'])} | {fmt(r['wall_s'])} | "
                     f"{r['task_instances']} | {fmt(r['task_seconds'])} | {fmt(r['work_s'])} | {fmt(r['busy_s'])} | "
                     f"{fmt(r['idle_s'])} |")
    total = sum(r["task_seconds"] for r in res["runs"])
    code = sum(r["work_s"] or 0 for r in res["runs"])
    before = sum(t["before_code_s"] for r in res["runs"] for t in r["tasks"])
    after = sum(t["after_code_s"] for r in res["runs"] for t in r["tasks"])
    lines += ["", f"Start-up share: of {total:.1f} s of task durations, {code:.1f} s ({100 * code / max(total, 1e-9):.0f} %) "
                  f"ran the tasks' own code; {before:.1f} s went before it (task process start-up and the DAG "
                  f"file parse) and {after:.1f} s after it (XCom push, state report to the API server).", "",
              "| task | instances | total (s) | max (s) | task code (s) | start-up + parse (s) | after (s) | "
              "ready → queued mean (s) | queued → start mean / max (s) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["runs"]:
        for t in r["tasks"]:
            retries = f", {t['tries']} retried" if t["tries"] else ""
            lines.append(f"| {t['dag_id'].removeprefix('fangpin_')}.{t['task']} | {t['count']}{retries} | "
                         f"{fmt(t['total_s'])} | {fmt(t['max_s'])} | {fmt(t['work_s'])} | {fmt(t['before_code_s'])} | "
                         f"{fmt(t['after_code_s'])} | {fmt(t.get('to_queue_mean_s'))} | "
                         f"{fmt(t['latency_mean_s'])} / {fmt(t['latency_max_s'])} |")
    instances = sum(r["task_instances"] for r in res["runs"])
    if res.get("celery_worker"):
        w = res["celery_worker"]
        line = (f"Celery workers: {w['tasks']} task messages took {w['seconds']:.1f} s in the workers "
                f"(`execute_workload ... succeeded in`, from their logs)")
        if w["tasks"] == instances:
            line += (f", against {total:.1f} s of task instance durations: {w['seconds'] - total:.1f} s "
                     f"({(w['seconds'] - total) / max(w['tasks'], 1):.1f} s a task) went to starting and ending the "
                     "task process outside the recorded duration.")
        else:
            line += f"; only {w['tasks']} of the {instances} task instances were found there, no comparison."
        lines += ["", line]
    lines += ["", "Task code: from the task log, the end of the runner's \"Pre Execute\" group to the start of "
                  "\"Post Execute\" (it includes importing fangpin and opening the database). Queued → start "
                  "includes waiting for a free executor slot (parallelism 4); ready → queued is the "
                  "scheduler handing a ready task (scheduled_dttm) to the executor (queued_dttm)."]
    m = res["mail"]
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(m["by_kind"].items()))
    lines += ["", f"E-mails received by the inbox: {m['total']} ({kinds}); sent twice: {m['sent_twice']}."]
    return lines


def write_doc(lines: list[str], marker: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = f"<!-- {marker} START -->", f"<!-- {marker} END -->"
    if start not in text:
        raise SystemExit(f"{DOC} has no {start} marker (add it under 'Whole month through Airflow')")
    block = start + "\n" + "\n".join(lines) + "\n" + end
    DOC.write_text(re.sub(re.escape(start) + ".*" + re.escape(end), lambda _: block, text, flags=re.S),
                   encoding="utf-8")
    say(f"wrote {DOC} ({marker})")


# ------------------------------------------------------------------ main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=244_000, help="households of the county (--province: "
                                                                    "of the largest county; the smallest has 1/4)")
    ap.add_argument("--period", help="the month; must be the latest monthly slot's (the default), see above")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fangpin-db", choices=["pg", "sqlite"], default="pg", help="monitoring database")
    ap.add_argument("--celery", type=int, default=0, metavar="WORKERS", help="CeleryExecutor with this many workers")
    ap.add_argument("--province", type=int, default=0, metavar="COUNTIES",
                    help="run fangpin_province_monthly over this many counties on Celery (--celery, default 2)")
    ap.add_argument("--timeout", type=float, default=7200, help="seconds to wait for each DAG run")
    ap.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args()
    if args.province and not args.celery:
        args.celery = 2
    period = latest_month()
    if args.period and args.period != period:
        raise SystemExit(f"--period {args.period}: only the latest monthly slot's month ({period}) runs as a "
                         "scheduled, on-time month (see the module docstring)")
    if not postgres_reachable():
        raise SystemExit("PostgreSQL on 127.0.0.1:5432 is not reachable")
    if args.celery and not redis_reachable():
        raise SystemExit("Redis on 127.0.0.1:6379 is not reachable")
    work = args.work or Path(tempfile.mkdtemp(prefix="fangpin-airflow-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say(f"working folder {work}; period {period}")

    res = {"period": period, "households": args.households, "executor": "celery" if args.celery else "local",
           "workers": args.celery, "fangpin_db": args.fangpin_db}
    extra, pg_urls = {}, []
    if args.province:
        n = args.province
        sizes = [round(args.households / 4 + (args.households - args.households / 4) * i / max(n - 1, 1))
                 for i in range(n)]
        path, res["counties"], pg_urls = province_file(work, sizes, period, args.fangpin_db)
        extra["FANGPIN_PROVINCE_FILE"] = str(path)
    else:
        data, res["generate"] = make_county(work, period, args.households, args.seed)
        extra["FANGPIN_DATA_DIR"] = str(data.parent)
        if args.fangpin_db == "sqlite":
            extra["FANGPIN_DB_URL"] = f"sqlite:///{work / 'fangpin.db'}"

    extra["PYTHONUNBUFFERED"] = "1"  # complete process logs (the Celery workers' are read for their timings)
    executor = "CeleryExecutor" if args.celery else "LocalExecutor"
    say(f"starting Airflow ({executor}) in {work / 'airflow'}")
    started = time.monotonic()
    res["load_before"] = load_avg()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # the SMTP inbox's per-message chatter
    cluster = Cluster(work / "airflow", executor, extra)  # its own metadata and monitoring databases
    try:
        if args.province:
            res.update(province_scenario(cluster, args, args.timeout, res["counties"]))
        else:
            res.update(month_scenario(cluster, args, args.timeout))
        res["mail"] = mail_kinds(cluster.inbox.messages)
    finally:
        say("stopping Airflow, dropping its databases")
        cluster.stop()
        for url in pg_urls:
            _drop_pg_database(url)
    res["celery_worker"] = celery_worker_seconds(cluster) if args.celery else None  # logs complete once stopped
    res["load_after"] = load_avg()
    res["benchmark_s"] = round(time.monotonic() - started, 1)
    out = work / "airflow_results.json"
    out.write_text(json.dumps(res, indent=1, default=str, ensure_ascii=False), encoding="utf-8")
    lines = doc_lines(res, args)
    print("\n".join(lines))
    say(f"results in {out}; Airflow part took {res['benchmark_s']:.0f} s")
    if not args.no_write:
        write_doc(lines, "AIRFLOW-PROVINCE" if args.province else "AIRFLOW-CELERY" if args.celery else "AIRFLOW")


if __name__ == "__main__":
    main()
