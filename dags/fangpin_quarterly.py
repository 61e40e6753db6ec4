"""
### 季调度 — quarterly dispatch materials

At 09:00 (Asia/Shanghai) on the 10th of January, April, July and October for the previous
quarter (after that quarter's last monthly bulletin); a manual run takes the quarter as the
`period` Param (e.g. `2026-Q4`).

1. **resolve** — the quarter and folders (outputs in `<output_dir>/<YYYY-Qn>/`).
2. **build_quarterly** — the 季调度 materials PDF; fails at once (no retry) when the quarter's
   last month has no data (`NoReportData`): no materials from no data.
3. **send_quarterly** — emailed to the leaders, once per content unless *force_send*; materials
   changed after sending go again as 更正版 N.

Failures email the platform team.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from fangpin import orchestration as orch


@dag(
    dag_id="fangpin_quarterly",
    schedule=orch.timetable(orch.QUARTERLY),
    start_date=orch.START,
    catchup=False,
    max_active_runs=1,
    default_args=orch.default_args(),
    on_failure_callback=orch.failure_notifier(),  # one alert per failed DAG run
    params=orch.params("quarter"),
    tags=["fangpin", "quarterly", "report"],
    doc_md=__doc__,
)
def fangpin_quarterly():
    @task(multiple_outputs=True)
    def resolve(**context) -> dict:
        return orch.folders(orch.period_of("quarter", context), context)

    @task
    def build_quarterly(period: str, out_dir: str) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from fangpin.pipeline import build_report
        from fangpin.reports.common import NoReportData

        try:
            return build_report("quarterly", period, out_dir)
        except NoReportData as exc:  # no report from no data: fail now (no retry), the alert goes out
            raise AirflowFailException(str(exc)) from exc

    @task
    def send_quarterly(period: str, pdf: str, force: bool, hold: str) -> list[str]:
        from fangpin.pipeline import send_report

        return [] if orch.held(hold) else send_report("quarterly", period, pdf, force=force)

    run = resolve()
    send_quarterly(run["period"], build_quarterly(run["period"], run["out_dir"]), run["force"], run["hold"])


fangpin_quarterly()
