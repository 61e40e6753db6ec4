"""
### 月通报 — monthly bulletin, spot-check draw and township problem lists

Triggered by the `fangpin_screening` asset: it runs once the month's screening is stored,
for the month named in the asset event (`extra["period"]`). A manual run takes the month
as the `period` Param (empty: the month before the run's date).

1. **resolve** — the period and folders.
2. **sample** — the month's phone spot-check draw, made at the start of the month by
   `fangpin_monthly_draw`: drawn again with its recorded seed (the same list, dated the draw day),
   or made now when the month was never drawn (`seed` Param optional) → `spot_check.csv`.
3. **derive_problems** — problems (问题清单) from verifications, spot-check results (matched to
   the draw just stored) and rectifications, with deadlines and blue/yellow/red escalation.
4. **build_bulletin** / **send_bulletin** — the 月通报 PDF, emailed to the leaders. The build
   fails at once (no retry) when the month has no data (empty, missing or held delivery, no
   validation run: `NoReportData`), so no bulletin of zeros is ever sent.
5. **write_township_problems** / **send_township_problems** — one mapped task per township:
   its problem list PDF, emailed to the township.

Emits `fangpin_bulletin` (extra period). Re-running sends nothing twice (unless
*force_send*); a report whose content changed since it was sent goes again as 更正版 N. Outputs: `<output_dir>/M/`. Failures email the platform team.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from fangpin import orchestration as orch


@dag(
    dag_id="fangpin_monthly_bulletin",
    schedule=[orch.SCREENING],
    start_date=orch.START,
    catchup=False,
    max_active_runs=1,
    default_args=orch.default_args(),
    on_failure_callback=orch.failure_notifier(),  # one alert per failed DAG run
    params=orch.params("month", seed=Param(None, type=["null", "integer"], title="抽查随机种子 seed",
                                               description="Seed of the spot-check draw; empty = the recorded draw's, else from the secret.")),
    tags=["fangpin", "monthly", "bulletin"],
    doc_md=__doc__,
)
def fangpin_monthly_bulletin():
    @task(multiple_outputs=True)
    def resolve(**context) -> dict:
        run = orch.folders(orch.period_of("month", context), context)
        run["seed"] = context["params"].get("seed")
        return run

    @task
    def derive_problems(period: str) -> dict:
        from fangpin.pipeline import derive_problems as derive

        return derive(period)

    @task
    def sample(period: str, out_dir: str, seed: int | None) -> dict:
        from fangpin.pipeline import sample_period

        return sample_period(period, out_dir, seed=seed, keep_recorded=True)

    @task
    def build_bulletin(period: str, out_dir: str) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from fangpin.pipeline import build_report
        from fangpin.reports.common import NoReportData

        try:
            return build_report("monthly", period, out_dir)
        except NoReportData as exc:  # no report from no data: fail now (no retry), the alert goes out
            raise AirflowFailException(str(exc)) from exc

    @task(outlets=[orch.BULLETIN])
    def send_bulletin(period: str, pdf: str, force: bool, hold: str, outlet_events=None) -> list[str]:
        from fangpin.pipeline import send_report

        sent = [] if orch.held(hold) else send_report("monthly", period, pdf, force=force)
        outlet_events[orch.BULLETIN].extra = {"period": period}
        return sent

    @task
    def townships(period: str) -> list[str]:
        from fangpin.pipeline import township_codes

        return township_codes(period)

    @task(map_index_template=orch.TOWNSHIP_LABEL)
    def write_township_problems(township_code: str, period: str, out_dir: str) -> dict:
        orch.name_township(township_code, period)
        from fangpin.pipeline import write_township_problems as write

        return {"township_code": township_code, "pdf": write(period, township_code, out_dir)}

    @task(map_index_template=orch.TOWNSHIP_LABEL_ITEM)
    def send_township_problems(item: dict, period: str, force: bool, hold: str) -> list[str]:
        orch.name_township(item["township_code"], period)
        from fangpin.pipeline import send_township_problems as send

        return [] if orch.held(hold) else send(period, item["township_code"], item["pdf"], force=force)

    run = resolve()
    drawn = sample(run["period"], run["out_dir"], run["seed"])
    problems = derive_problems(run["period"])
    drawn >> problems  # the month's call results are matched to the draw
    pdf = build_bulletin(run["period"], run["out_dir"])
    problems >> pdf
    send_bulletin(run["period"], pdf, run["force"], run["hold"])
    codes = townships(run["period"])
    problems >> codes
    lists = write_township_problems.partial(period=run["period"], out_dir=run["out_dir"]).expand(township_code=codes)
    send_township_problems.partial(period=run["period"], force=run["force"], hold=run["hold"]).expand(item=lists)


fangpin_monthly_bulletin()
