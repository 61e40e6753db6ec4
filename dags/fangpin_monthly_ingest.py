"""
### 月度数据接收与筛查 — monthly ingest, validation, screening and push lists

Departments deliver month **M** into `<data_dir>/M/` by the 5th of M+1; this DAG runs at
06:00 (Asia/Shanghai) on the 6th for month M (the run's data interval is the previous month).

1. **resolve** — the period: the `period` Param on a manual run, else the run's data interval.
2. **ingest** — validate every feed with Great Expectations (quarantine, history, Data Docs)
   and load the accepted rows, replacing the period in one transaction
   (`fangpin.pipeline.ingest_summary`). Emits the `fangpin_delivery` asset. A **held**
   delivery (households or members absent, empty or > 10% smaller than the latest earlier
   period) fails this task with the reason — the platform team is alerted, nothing is
   replaced, no screening or push list follows. Trigger again with *accept_partial* to load it.
3. **screen** — rules R01–R13 → `screening.csv`; the push is dated the day this run does it
   (its run date, `orch.run_day`; a household already pushed keeps its first date) and is due
   for verification 15 days later; emits the `fangpin_screening` asset with
   `extra={"period": M}` — the monthly bulletin waits for it.
4. **audit** — registry audit, checks A01–A12 (疑点数据核查) → `audit.csv`
   (`fangpin.pipeline.audit_period`), before the screening event so the bulletin's problem
   lists see the month's 疑点数据; checks whose optional columns are absent are skipped and
   named in the task's result.
5. **review** — the county's sample review of the month's new 拟纳入/拟消除 decisions: the draw,
   recorded, and `review_draw.csv` (`fangpin.pipeline.review_period`), after ingest.
6. **suspect_townships**, then **write_push_list** / **send_push_list** — one mapped task
   per township with suspects to verify (households already monitored are not pushed):
   the township's xlsx push list, emailed to its contact (never twice unless *force_send*).

Re-running a run replaces the period's rows and files and sends no email twice.
Outputs: `<output_dir>/M/`. Failures email the platform team.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from fangpin import orchestration as orch


@dag(
    dag_id="fangpin_monthly_ingest",
    schedule=orch.timetable(orch.MONTHLY_INGEST),
    start_date=orch.START,
    catchup=False,
    max_active_runs=1,
    default_args=orch.default_args(),
    on_failure_callback=orch.failure_notifier(),  # one alert per failed DAG run
    params=orch.params("month", accept_partial=Param(
        False, type="boolean", title="接受不完整数据 accept partial",
        description="Load a delivery the held-delivery rule would hold (fangpin load --accept-partial).")),
    tags=["fangpin", "monthly", "ingest"],
    doc_md=__doc__,
)
def fangpin_monthly_ingest():
    @task(multiple_outputs=True)
    def resolve(**context) -> dict:
        """The period and folders of this run; fails when the delivery folder is missing."""
        import os

        run = orch.folders(orch.period_of("month", context), context)
        if not os.path.isdir(run["data_dir"]):
            raise FileNotFoundError(f"delivery folder {run['data_dir']} does not exist (departments deliver by the 5th)")
        run["run_day"] = orch.run_day(context)
        return run

    @task(outlets=[orch.DELIVERY])
    def ingest(period: str, data_dir: str, out_dir: str, outlet_events=None, params=None) -> dict:
        from fangpin.pipeline import ingest_summary

        from fangpin.load import DeliveryHeld

        try:
            summary = ingest_summary(data_dir, period, out_dir,
                                     accept_partial=bool((params or {}).get("accept_partial", False)))
        except DeliveryHeld as held:  # fail at once (no retry) with the reason: alert, no screening
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(str(held)) from None
        if summary.get("rejected"):
            print(f"rejected whole: {summary['rejected']} (see validation_summary.csv)")
        outlet_events[orch.DELIVERY].extra = {"period": period, "rejected": list(summary.get("rejected", []))}
        return summary

    @task(outlets=[orch.SCREENING])
    def screen(period: str, out_dir: str, run_day: str, outlet_events=None) -> dict:
        from fangpin.pipeline import screen_period

        result = screen_period(period, out_dir, pushed_on=run_day)
        outlet_events[orch.SCREENING].extra = {"period": period, "suspected": int(result.get("suspected", 0)),
                                               "out_dir": out_dir}  # the bulletin writes beside it
        return result

    @task
    def audit(period: str, out_dir: str) -> dict:
        from fangpin.pipeline import audit_period

        return audit_period(period, out_dir)

    @task
    def review(period: str, out_dir: str) -> dict:
        from fangpin.pipeline import review_period

        return review_period(period, out_dir)

    @task
    def suspect_townships(screening: dict) -> list[str]:
        """The townships with at least one suspected household to verify (one push list each)."""
        return list(screening.get("push_townships", screening.get("townships", [])))

    @task(map_index_template=orch.TOWNSHIP_LABEL)
    def write_push_list(township_code: str, period: str, out_dir: str) -> dict:
        from fangpin.pipeline import write_push_list as write

        orch.name_township(township_code, period)
        return {"township_code": township_code, "path": write(period, township_code, out_dir)}

    @task(map_index_template=orch.TOWNSHIP_LABEL_ITEM)
    def send_push_list(item: dict, period: str, force: bool, hold: str) -> list[str]:
        from fangpin.pipeline import send_push_list as send

        orch.name_township(item["township_code"], period)
        return [] if orch.held(hold) else send(period, item["township_code"], item["path"], force=force)

    run = resolve()
    ingested = ingest(run["period"], run["data_dir"], run["out_dir"])
    screened = screen(run["period"], run["out_dir"], run["run_day"])
    audited = audit(run["period"], run["out_dir"])
    ingested >> audited >> screened  # the screening event starts the bulletin: 疑点数据 must be in
    ingested >> review(run["period"], run["out_dir"])
    lists = write_push_list.partial(period=run["period"], out_dir=run["out_dir"]).expand(
        township_code=suspect_townships(screened))
    send_push_list.partial(period=run["period"], force=run["force"], hold=run["hold"]).expand(item=lists)


fangpin_monthly_ingest()
