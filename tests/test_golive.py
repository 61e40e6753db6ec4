"""Safe go-live and late runs (no stale email), folder Params limited to the configured roots."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import tempfile
from types import SimpleNamespace
from zoneinfo import ZoneInfo

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="fangpin-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pytest  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def cfg(monkeypatch, tmp_path):
    from fangpin import config

    monkeypatch.setenv("FANGPIN_DATA_DIR", str(tmp_path / "incoming"))
    monkeypatch.setenv("FANGPIN_OUTPUT_DIR", str(tmp_path / "output"))
    monkeypatch.delenv("FANGPIN_GO_LIVE", raising=False)
    config.reset()

    def set_(**env):
        for k, v in env.items():
            monkeypatch.setenv(f"FANGPIN_{k.upper()}", v)
        config.reset()

    yield set_
    config.reset()


def scheduled(kind, period, **params):
    """The context of the scheduled run of `period` (its slot is its data interval's end)."""
    from fangpin import orchestration as orch

    return {"params": params, "data_interval_end": orch.run_date(kind, period)}


def manual(at: dt.datetime, **params):
    return {"params": params, "dag_run": SimpleNamespace(run_after=at, run_type="manual")}


def test_first_unpause_sends_nothing_for_periods_before_go_live(cfg):
    from fangpin import orchestration as orch

    cfg(go_live="2026-12-20")
    # the latest missed slots run at once on unpause: Nov's monthly, W50 weekly, Q3 quarterly
    for kind, period in (("month", "2026-11"), ("week", "2026-W50"), ("quarter", "2026-Q3")):
        hold = orch.mail_hold(kind, period, scheduled(kind, period))
        assert "go-live" in hold and "2026-12-20" in hold, (kind, period)
        assert orch.mail_hold(kind, period, scheduled(kind, period, force_send=True)) == ""
    # the first period ending on/after go-live sends normally
    assert orch.mail_hold("week", "2026-W51", scheduled("week", "2026-W51")) == ""  # Dec 14–20
    assert orch.mail_hold("month", "2026-12", scheduled("month", "2026-12")) == ""


def test_without_go_live_scheduled_runs_send(cfg):
    from fangpin import orchestration as orch

    for kind, period in (("month", "2025-03"), ("week", "2026-W01"), ("quarter", "2024-Q4"), ("draw", "2026-11")):
        assert orch.mail_hold(kind, period, scheduled(kind, period)) == ""


def test_a_late_run_of_an_old_period_builds_but_does_not_email(cfg):
    from fangpin import orchestration as orch

    # manual run of October on 2026-11-20: the schedule still works on October -> may send
    assert orch.mail_hold("month", "2026-10", manual(dt.datetime(2026, 11, 20, 10, tzinfo=SH), period="2026-10")) == ""
    # on 2026-12-06 06:00 the schedule moved on to November: October is late
    late = manual(dt.datetime(2026, 12, 6, 6, tzinfo=SH), period="2026-10")
    assert "late run of 2026-10" in orch.mail_hold("month", "2026-10", late)
    late["params"]["force_send"] = True
    assert orch.mail_hold("month", "2026-10", late) == ""
    # a quarter re-run a quarter later; a week re-run two weeks later
    assert "late run" in orch.mail_hold("quarter", "2026-Q2", manual(dt.datetime(2026, 10, 12, tzinfo=SH)))
    assert "late run" in orch.mail_hold("week", "2026-W45", manual(dt.datetime(2026, 11, 24, tzinfo=SH)))
    # the asset-triggered bulletin right after the ingest is on time
    ev = {"params": {}, "dag_run": SimpleNamespace(run_after=dt.datetime(2026, 11, 6, 7, tzinfo=SH))}
    assert orch.mail_hold("month", "2026-10", ev) == ""


def test_folders_carry_the_hold_for_the_dags_kind(cfg):
    from fangpin import orchestration as orch

    cfg(go_live="2026-12-01")
    ti = SimpleNamespace(dag_id="fangpin_weekly")
    ctx = {"ti": ti, **scheduled("week", "2026-W47")}
    run = orch.folders("2026-W47", ctx, delivery="weekly/2026-W47")
    assert "go-live" in run["hold"] and run["force"] is False
    assert orch.held(run["hold"]) is True and orch.held("") is False


def test_every_send_task_takes_the_hold_from_resolve():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(os.path.join(os.path.dirname(__file__), "..", "dags"))
    checked = 0
    for dag in bag.dags.values():
        for task in dag.tasks:
            if task.task_id.startswith("send") or task.task_id == "county_month":
                param = inspect.signature(task.python_callable).parameters.get("hold")
                # a required argument: the DAG cannot run the task without passing the hold
                assert param is not None and param.default is inspect.Parameter.empty, \
                    f"{dag.dag_id}.{task.task_id} ignores the go-live/late-run hold"
                assert "resolve" in task.upstream_task_ids or any(
                    "resolve" in t.upstream_task_ids for t in task.upstream_list), task.task_id
                checked += 1
    assert checked >= 6


def test_folder_params_are_limited_to_the_configured_roots(cfg, tmp_path):
    from fangpin import orchestration as orch

    ctx = lambda **p: {**scheduled("month", "2026-10"), "params": p,  # noqa: E731
                       "ti": SimpleNamespace(dag_id="fangpin_monthly_ingest")}
    run = orch.folders("2026-10", ctx())
    assert run["data_dir"] == str((tmp_path / "incoming" / "2026-10").resolve())
    inside = orch.folders("2026-10", ctx(data_root=str(tmp_path / "incoming" / "resend"),
                                          output_root=str(tmp_path / "output" / "v2")))
    assert inside["out_dir"] == str((tmp_path / "output" / "v2" / "2026-10").resolve())
    for bad in ("/etc", str(tmp_path / "incoming" / ".." / ".." / "elsewhere"), "/"):
        with pytest.raises(ValueError, match="outside the configured roots"):
            orch.folders("2026-10", ctx(data_root=bad))
        with pytest.raises(ValueError, match="outside the configured roots"):
            orch.folders("2026-10", ctx(output_root=bad))
    cfg(allowed_roots=f'["{tmp_path / "archive"}"]')
    ok = orch.folders("2026-10", ctx(data_root=str(tmp_path / "archive")))
    assert ok["data_dir"] == str((tmp_path / "archive" / "2026-10").resolve())


def test_the_bulletin_writes_where_the_ingest_that_triggered_it_wrote(cfg, tmp_path):
    from fangpin import orchestration as orch

    out = tmp_path / "output" / "rerun" / "2026-10"
    ev = SimpleNamespace(extra={"period": "2026-10", "out_dir": str(out)},
                         timestamp=dt.datetime(2026, 11, 6, tzinfo=dt.timezone.utc))
    ctx = {"params": {}, "ti": SimpleNamespace(dag_id="fangpin_monthly_bulletin"),
           "triggering_asset_events": {"fangpin_screening": [ev]},
           "dag_run": SimpleNamespace(run_after=dt.datetime(2026, 11, 6, 7, tzinfo=SH))}
    assert orch.folders("2026-10", ctx)["out_dir"] == str(out.resolve())
    # an event pointing outside the roots is refused like the Param
    ev.extra["out_dir"] = "/etc/2026-10"
    with pytest.raises(ValueError, match="outside the configured roots"):
        orch.folders("2026-10", ctx)
    # no out_dir in the event: the configured output folder
    ev.extra.pop("out_dir")
    assert orch.folders("2026-10", ctx)["out_dir"] == str((tmp_path / "output" / "2026-10").resolve())
