"""Airflow's real scheduler, not dag.test(): `airflow scheduler`, `dag-processor` and
`api-server` as processes on a fresh PostgreSQL metadata database.

1. LocalExecutor: the monthly ingest is unpaused, the scheduler makes its run for the latest
   slot by itself, the screening asset event triggers the bulletin, every task succeeds and each
   report is emailed once.
2. CeleryExecutor on Redis with two `airflow celery worker`s: the province DAG over three
   counties; one worker is killed (SIGKILL, with its children) while it runs a county; the
   county's task times out, is retried on the other worker, and the month completes with every
   county done once and no email sent twice.

Skipped when PostgreSQL (or, for Celery, Redis) on 127.0.0.1 does not answer."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from airflow_cluster import Cluster, redis_reachable
from conftest import postgres_reachable

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("airflow_e2e")]

HOUSEHOLDS = 200  # the generator's minimum: 22 townships with planted cases


def _latest_month() -> str:
    """The month the monthly schedule's latest slot (06:00 on the 6th, Shanghai) is for: the run
    the scheduler makes on unpause (catchup=False) and that is not a late run."""
    from fangpin import orchestration as orch
    from fangpin.periods import Month

    now = dt.datetime.now(ZoneInfo(orch.TZ))
    month = Month(now.year, now.month).shift(-1)
    while orch.run_date("month", str(month)) > now:
        month = month.shift(-1)
    return str(month)


def _runs(cluster: Cluster, dag_id: str) -> list[tuple]:
    return cluster.query("SELECT run_id, run_type, state, data_interval_end FROM dag_run WHERE dag_id = :d "
                         "ORDER BY id", d=dag_id)


def _done(cluster: Cluster, dag_id: str):
    runs = _runs(cluster, dag_id)
    failed = [r for r in runs if r[2] == "failed"]
    if failed:
        states = cluster.query("SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = :d "
                               "AND state <> 'success'", d=dag_id)
        raise AssertionError(f"{dag_id} failed: {failed}\n{states}\n{cluster.tail()}")
    return [r for r in runs if r[2] == "success"]


@pytest.fixture
def pg():
    if not postgres_reachable():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")


def test_scheduler_runs_the_month_with_local_executor(pg, tmp_path):
    from fangpin import orchestration as orch
    from fangpin.generate import generate_county

    period = _latest_month()
    generate_county(tmp_path / "incoming" / period, period, households=HOUSEHOLDS, seed=3)
    cluster = Cluster(tmp_path, "LocalExecutor")
    try:
        ingest, bulletin = "fangpin_monthly_ingest", "fangpin_monthly_bulletin"
        cluster.up(dags=[ingest, bulletin])
        cluster.unpause(bulletin, ingest)
        cluster.wait("the ingest's scheduled run", lambda: _done(cluster, ingest), 420)
        cluster.wait("the asset-triggered bulletin", lambda: _done(cluster, bulletin), 420)

        (run_id, run_type, _, interval_end), = _runs(cluster, ingest)
        assert run_type == "scheduled" and interval_end == orch.run_date("month", period)  # made by the scheduler
        (b_run_id, b_type, _, _), = _runs(cluster, bulletin)
        assert b_type == "asset_triggered"
        # every task instance ran through the scheduler job, none left unfinished
        tis = cluster.query("SELECT dag_id, task_id, map_index, state, queued_by_job_id, rendered_map_index "
                            "FROM task_instance")
        scheduler_jobs = {r[0] for r in cluster.query("SELECT id FROM job WHERE job_type = 'SchedulerJob'")}
        assert tis and all(t[3] in ("success", "skipped") for t in tis), [t for t in tis if t[3] != "success"]
        assert {t[4] for t in tis} <= scheduler_jobs
        mapped = Counter(t[1] for t in tis if t[2] >= 0)
        assert mapped["write_push_list"] == mapped["send_push_list"] >= 10  # the townships with suspects
        assert mapped["write_township_problems"] == mapped["send_township_problems"] >= 10
        labels = [t[5] for t in tis if t[2] >= 0]
        assert all(re.fullmatch(r"4513\d{5} \S+", label or "") for label in labels), labels  # "code 名称"

        out = tmp_path / "output" / period
        assert (out / "screening.csv").is_file() and (out / "spot_check.csv").is_file()
        assert list(out.rglob("*月通报*.pdf"))
        subjects = Counter(cluster.inbox.messages)
        assert sum("【月通报】" in s for (_, s) in subjects) == 1, subjects
        assert sum("推送清单" in s for (_, s) in subjects) >= 1, subjects
        assert max(subjects.values()) == 1, "an email was sent twice"
        assert not any("故障" in s for (_, s) in subjects), "a failure alert went out"
    finally:
        cluster.stop()


PROVINCE = """province: 广西
counties:
  - county_code: "451302"
    county: 兴宾区
    leaders: [xingbin@leaders.local]
  - county_code: "451321"
    county: 忻城县
    leaders: [xincheng@leaders.local]
  - county_code: "451322"
    county: 象州县
    leaders: [xiangzhou@leaders.local]
"""


def test_celery_workers_survive_losing_one_mid_county(pg, tmp_path):
    if not redis_reachable():
        pytest.skip("Redis on 127.0.0.1:6379 is not reachable")
    import pandas as pd

    from fangpin.generate import generate_county

    period = _latest_month()
    codes = ["451302", "451321", "451322"]
    for i, code in enumerate(codes):
        generate_county(tmp_path / "incoming" / code / period, period, households=HOUSEHOLDS, seed=20 + i)
    (tmp_path / "province.yaml").write_text(PROVINCE, encoding="utf-8")
    cluster = Cluster(tmp_path, "CeleryExecutor", {
        # a lost worker's task fails after 30 s without heartbeat and is retried 5 s later
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "FANGPIN_RETRY_DELAY": "5",
        "FANGPIN_PROVINCE_FILE": str(tmp_path / "province.yaml"),
    })
    dag_id = "fangpin_province_monthly"
    try:
        cluster.up(dags=[dag_id], workers=2)
        cluster.unpause(dag_id)

        def county_running():
            rows = cluster.query("SELECT map_index, pid FROM task_instance WHERE dag_id = :d AND task_id = "
                                 "'county_month' AND state = 'running' AND pid IS NOT NULL", d=dag_id)
            return rows

        # both workers take a county (one task at a time each); kill the one running the first county
        busy = cluster.wait("two counties running at once", lambda: len(county_running()) >= 2 and county_running(),
                            420, every=0.5)
        owner = {}
        for map_index, pid in busy:
            for name in ("worker1", "worker2"):
                if pid in cluster.descendants(name):
                    owner[map_index] = name
        assert sorted(owner.values()) == ["worker1", "worker2"], (busy, owner)  # spread over both workers
        victim_index = min(owner)
        victim = owner[victim_index]
        cluster.kill(victim)

        cluster.wait("the province month", lambda: _done(cluster, dag_id), 480)
        tis = cluster.query("SELECT map_index, state, try_number, rendered_map_index FROM task_instance "
                            "WHERE dag_id = :d AND task_id = 'county_month' ORDER BY map_index", d=dag_id)
        assert [t[1] for t in tis] == ["success"] * 3, tis
        tries = {t[0]: t[2] for t in tis}
        assert tries[victim_index] == 2, tis  # the lost try, then the retry on the surviving worker
        assert sorted(t[3] for t in tis) == codes
        events = cluster.query("SELECT event FROM log WHERE dag_id = :d", d=dag_id)
        assert ("heartbeat timeout",) in events

        summary = pd.read_csv(tmp_path / "output" / period / "province_summary.csv", encoding="utf-8-sig",
                              dtype={"县区代码": str})
        assert sorted(summary["县区代码"]) == codes  # every county once
        for code, households in zip(summary["县区代码"], summary["农户数"]):
            from sqlalchemy import create_engine, text

            eng = create_engine(f"sqlite:///{tmp_path / 'fangpin_home' / 'counties' / code / 'fangpin.db'}")
            with eng.connect() as c:
                stored = c.execute(text("SELECT count(*) FROM households WHERE period = :p"),
                                   {"p": period}).scalar_one()
                sent = c.execute(text("SELECT count(*) FROM report_deliveries")).scalar_one()
            eng.dispose()
            assert stored == households > 0 and sent > 0, (code, stored, households, sent)

        messages = Counter(cluster.inbox.messages)
        assert max(messages.values()) == 1, [m for m, n in messages.items() if n > 1]  # nothing sent twice
        bulletins = {rcpts: s for (rcpts, s) in messages if "【月通报】" in s}
        assert set(bulletins) == {("xingbin@leaders.local",), ("xincheng@leaders.local",),
                                  ("xiangzhou@leaders.local",)}, bulletins
        assert not any("故障" in s for (_, s) in messages), "a failure alert went out"
    finally:
        cluster.stop()
