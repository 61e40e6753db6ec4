"""
### 全省月度 — the monthly cycle for every county of a province

For a province deployment (`FANGPIN_PROVINCE_FILE` names the list of counties; see
`docs/province.md`). Runs at 06:00 (Asia/Shanghai) on the 6th for the previous month, like
`fangpin_monthly_ingest`, but for every county at once:

1. **resolve** — the period: the `period` Param on a manual run, else the run's data interval.
2. **counties** — the county codes of the province file (read when the run starts, never
   while the file is parsed).
3. **county_month** — one mapped task per county: validate + load, screen + push lists,
   spot-check draw + call sheets, problems and the 月通报 emailed to that county's leaders —
   each county on its own monitoring database, GX project and folders. Celery workers spread
   the mapped tasks; at most 4 run at once per run (memory: ~1.3 GB each at Xingbin scale).
4. **summary** — `<output_dir>/<period>/province_summary.csv`, one row per county.

Re-running replaces each county's period and sends no email twice (unless *force_send*).
Failures email the platform team.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from fangpin import orchestration as orch


@dag(
    dag_id="fangpin_province_monthly",
    schedule=orch.timetable(orch.MONTHLY_INGEST),
    start_date=orch.START,
    catchup=False,
    max_active_runs=1,
    default_args=orch.default_args(),
    on_failure_callback=orch.failure_notifier(),  # one alert per failed DAG run
    params={k: v for k, v in orch.params("month").items() if k in ("period", "force_send")},
    tags=["fangpin", "monthly", "province"],
    doc_md=__doc__,
)
def fangpin_province_monthly():
    @task(multiple_outputs=True)
    def resolve(**context) -> dict:
        period = orch.period_of("month", context)
        return {"period": period, "run_day": orch.run_day(context),
                "force": bool(context["params"].get("force_send", False)),
                "hold": orch.mail_hold("month", period, context)}

    @task
    def counties() -> list[str]:
        from fangpin.province import county_codes

        return county_codes()

    @task(map_index_template="{{ county }}", max_active_tis_per_dagrun=4)
    def county_month(county: str, period: str, force: bool, run_day: str, hold: str) -> dict:
        from fangpin.province import run_county_month

        return run_county_month(county, period, send=not orch.held(hold), force=force, run_day=run_day)

    @task
    def summary(results: list[dict], period: str) -> str:
        from fangpin.province import write_summary

        return str(write_summary(list(results), period))

    run = resolve()
    done = county_month.partial(period=run["period"], force=run["force"], run_day=run["run_day"], hold=run["hold"]).expand(
        county=counties())
    summary(done, run["period"])


# Absent from a single-county deployment: only when FANGPIN_PROVINCE_FILE is set (environment only).
if orch.province_configured():
    fangpin_province_monthly()
