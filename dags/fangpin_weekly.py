"""
### 周统计 — weekly statistics

Every Monday at 08:00 (Asia/Shanghai) for the previous Monday–Sunday week (the run's data
interval is that week; a manual run takes the week as the `period` Param, e.g. `2026-W45`
or any date inside the week).

1. **resolve** — the week and folders (outputs in `<output_dir>/<YYYY-Www>/`).
2. **build_weekly** — the 周统计 PDF from the monitoring database.
3. **send_weekly** — emailed to the leaders, once per week unless *force_send*.

Failures email the platform team.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from fangpin import orchestration as orch


@dag(
    dag_id="fangpin_weekly",
    schedule=orch.timetable(orch.WEEKLY),
    start_date=orch.START,
    catchup=False,
    max_active_runs=1,
    default_args=orch.default_args(),
    params=orch.params("week"),
    tags=["fangpin", "weekly", "report"],
    doc_md=__doc__,
)
def fangpin_weekly():
    @task(multiple_outputs=True)
    def resolve(**context) -> dict:
        return orch.folders(orch.period_of("week", context), context)

    @task
    def build_weekly(period: str, out_dir: str) -> str:
        from fangpin.pipeline import build_report

        return build_report("weekly", period, out_dir)

    @task
    def send_weekly(period: str, pdf: str, force: bool) -> list[str]:
        from fangpin.pipeline import send_report

        return send_report("weekly", period, pdf, force=force)

    run = resolve()
    send_weekly(run["period"], build_weekly(run["period"], run["out_dir"]), run["force"])


fangpin_weekly()
