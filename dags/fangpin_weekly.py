"""
### 周统计 — weekly statistics

Every Monday at 08:00 (Asia/Shanghai) for the previous Monday–Sunday week (the run's data
interval is that week; a manual run takes the week as the `period` Param, e.g. `2026-W45`
or any date inside the week).

1. **resolve** — the week and folders: the townships' feedback drop `<data_root>/weekly/<YYYY-Www>/`,
   outputs in `<output_dir>/<YYYY-Www>/`.
2. **ingest_week** — validates the drop's feedback feeds (inspections, verifications,
   spot_check_results, rectifications) like the monthly feeds (quarantine with reasons, history)
   and loads the accepted rows as delivery `YYYY-Www`; a missing folder is reported, not a failure.
3. **mark_overdue** — rectifications close problems; problems past their deadline turn 黄.
4. **build_weekly** — the 周统计 PDF: the week's own work and the problems that turned 黄.
5. **send_weekly** — emailed to the leaders, once per week unless *force_send*.

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
    on_failure_callback=orch.failure_notifier(),  # one alert per failed DAG run
    params=orch.params("week"),
    tags=["fangpin", "weekly", "report"],
    doc_md=__doc__,
)
def fangpin_weekly():
    @task(multiple_outputs=True)
    def resolve(**context) -> dict:
        week = orch.period_of("week", context)
        return orch.folders(week, context, delivery=f"weekly/{week}")

    @task
    def ingest_week(period: str, data_dir: str, out_dir: str) -> dict:
        from fangpin.pipeline import ingest_week as ingest

        summary = ingest(period, data_dir, out_dir)
        if not summary.get("delivered"):
            print(f"no township feedback delivered for {period}: {data_dir} does not exist")
        return summary

    @task
    def mark_overdue(period: str) -> dict:
        from fangpin.pipeline import weekly_feedback

        return weekly_feedback(period)

    @task
    def build_weekly(period: str, out_dir: str) -> str:
        from fangpin.pipeline import build_report

        return build_report("weekly", period, out_dir)

    @task
    def send_weekly(period: str, pdf: str, force: bool, hold: str) -> list[str]:
        from fangpin.pipeline import send_report

        return [] if orch.held(hold) else send_report("weekly", period, pdf, force=force)

    run = resolve()
    ingested = ingest_week(run["period"], run["data_dir"], run["out_dir"])
    marked = mark_overdue(run["period"])
    pdf = build_weekly(run["period"], run["out_dir"])
    ingested >> marked >> pdf
    send_weekly(run["period"], pdf, run["force"], run["hold"])


fangpin_weekly()
