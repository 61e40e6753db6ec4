"""
### 电话抽查抽样 — the phone spot-check draw at the start of the month

Runs at 07:00 (Asia/Shanghai) on the 1st of month **M** (parameter `sample.draw_day`) and draws
**M**'s spot-check list: 30 脱贫户/监测户 per township, from the latest households delivery loaded,
with a seed derived from the configured secret (`FANGPIN_DRAW_SECRET`) and the period. The draw is
dated that day and recorded (seed included) so auditors can reproduce it; townships cannot
predict it. Calls of month M are matched to this draw; a call dated before it is not.

1. **resolve** — the month (the `period` Param on a manual run, else the month the run is in).
2. **draw** — `spot_check.csv` in `<output_dir>/M/` and the recorded draw (`seed` Param: an
   auditor's reproduction; empty = from the secret).
3. **write_call_sheet** / **send_call_sheet** — one mapped task per township (labelled
   "code 名称"): the restricted call sheets, emailed to the spot-check team only
   (`spot_check_team`) with a 【内部·限定范围】 subject; never to leaders.

Re-running gives the same draw (the recorded seed and households delivery are kept; a `seed`
Param draws again with that seed). Failures email the platform team.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from fangpin import orchestration as orch


@dag(
    dag_id="fangpin_monthly_draw",
    schedule=orch.timetable(orch.MONTHLY_DRAW),
    start_date=orch.START,
    catchup=False,
    max_active_runs=1,
    default_args=orch.default_args(),
    on_failure_callback=orch.failure_notifier(),  # one alert per failed DAG run
    params=orch.params("month", seed=Param(None, type=["null", "integer"], title="抽查随机种子 seed",
                                               description="Reproduce a recorded draw; empty = derived from the "
                                                           "configured secret and the period.")),
    tags=["fangpin", "monthly", "spot-check"],
    doc_md=__doc__,
)
def fangpin_monthly_draw():
    @task(multiple_outputs=True)
    def resolve(**context) -> dict:
        run = orch.folders(orch.current_month(context), context)
        run["seed"] = context["params"].get("seed")
        return run

    @task
    def draw(period: str, out_dir: str, seed: int | None) -> dict:
        from fangpin.pipeline import sample_period

        return sample_period(period, out_dir, seed=seed, keep_recorded=True)

    @task
    def drawn_townships(drawn: dict) -> list[str]:
        return list(drawn.get("townships", []))

    @task(map_index_template=orch.TOWNSHIP_LABEL)
    def write_call_sheet(township_code: str, period: str, out_dir: str) -> dict:
        from fangpin.pipeline import write_call_sheet as write

        orch.name_township(township_code, period)
        return {"township_code": township_code, "paths": write(period, township_code, out_dir)}

    @task(map_index_template=orch.TOWNSHIP_LABEL_ITEM)
    def send_call_sheet(item: dict, period: str, force: bool, hold: str) -> list[str]:
        """Restricted mail (【内部·限定范围】) to the spot-check team only; never to leaders."""
        from fangpin.pipeline import send_call_sheets

        orch.name_township(item["township_code"], period)
        return [] if orch.held(hold) else send_call_sheets(period, item["township_code"], item["paths"], force=force)

    run = resolve()
    drawn = draw(run["period"], run["out_dir"], run["seed"])
    sheets = write_call_sheet.partial(period=run["period"], out_dir=run["out_dir"]).expand(
        township_code=drawn_townships(drawn))
    send_call_sheet.partial(period=run["period"], force=run["force"], hold=run["hold"]).expand(item=sheets)


fangpin_monthly_draw()
