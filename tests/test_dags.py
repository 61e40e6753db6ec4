"""DAG integrity: the DAG files import cleanly and quickly, every DAG carries owner, tags, docs,
retries and the platform-team failure email, and each schedule gives each run the right period."""

from __future__ import annotations

import datetime as dt
import email
import json
import os
import socket
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="fangpin-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
SH = ZoneInfo("Asia/Shanghai")
EXPECTED = {"fangpin_monthly_ingest", "fangpin_monthly_bulletin", "fangpin_weekly", "fangpin_quarterly",
            "fangpin_province_monthly", "fangpin_monthly_draw"}


@pytest.fixture(scope="module")
def bag():
    """All DAGs, the province one included (it exists only when FANGPIN_PROVINCE_FILE is set)."""
    from airflow.dag_processing.dagbag import DagBag

    before = os.environ.get("FANGPIN_PROVINCE_FILE")
    os.environ["FANGPIN_PROVINCE_FILE"] = "/nonexistent/province.yaml"  # set, never read at parse time
    try:
        return DagBag(str(DAGS))
    finally:
        if before is None:
            del os.environ["FANGPIN_PROVINCE_FILE"]
        else:
            os.environ["FANGPIN_PROVINCE_FILE"] = before


def test_no_import_errors_and_all_dags_present(bag):
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_has_owner_tags_docs_retries_and_failure_email(bag, dag_id):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    dag = bag.dags[dag_id]
    assert "fangpin" in dag.tags and len(dag.tags) >= 2
    assert dag.doc_md and len(dag.doc_md.strip()) > 200
    assert dag.catchup is False
    assert dag.timezone.name == "Asia/Shanghai"
    if dag_id != "fangpin_monthly_bulletin":  # the bulletin is asset-triggered
        tt = dag.timetable
        assert type(tt).__name__ == "CronTriggerTimetable" and str(tt.timezone) == "Asia/Shanghai"
        assert tt.interval  # a real data interval: the previous period, never zero-width
    assert "period" in dag.params and dag.params["period"] is None  # manual runs: period on the trigger form
    assert dag.params["force_send"] is False
    for t in dag.tasks:
        assert t.owner == "fangpin", t.task_id
        assert t.retries >= 2, t.task_id
        callbacks = t.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert any(isinstance(cb, SmtpNotifier) for cb in callbacks), t.task_id


def test_dag_files_import_nothing_heavy_at_top_level():
    """Parsing must not import pandas, GX, WeasyPrint or the stage modules."""
    import subprocess
    import sys

    code = (
        "import sys, runpy, glob\n"
        f"for f in sorted(glob.glob({str(DAGS)!r} + '/*.py')): runpy.run_path(f)\n"
        "heavy = [m for m in ('pandas', 'great_expectations', 'weasyprint', 'matplotlib', 'openpyxl',"
        " 'fangpin.pipeline', 'fangpin.store.db', 'fangpin.config') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "include")})
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), out.stdout


def test_mapped_tasks_are_per_township(bag):
    mapped = {(d, t.task_id) for d in EXPECTED for t in bag.dags[d].tasks
              if t.__class__.__name__ in ("MappedOperator", "DecoratedMappedOperator")}
    assert {("fangpin_monthly_ingest", "write_push_list"), ("fangpin_monthly_ingest", "send_push_list"),
            ("fangpin_monthly_draw", "write_call_sheet"),
            ("fangpin_monthly_bulletin", "write_township_problems"),
            ("fangpin_monthly_bulletin", "send_township_problems")} <= mapped


def test_province_dag_maps_one_task_per_county(bag):
    dag = bag.dags["fangpin_province_monthly"]
    county = dag.get_task("county_month")
    assert county.__class__.__name__ in ("MappedOperator", "DecoratedMappedOperator")
    assert county.max_active_tis_per_dagrun == 4  # a cap on memory: ~1.6 GB per Xingbin-size county
    assert {t.task_id for t in county.upstream_list} == {"counties", "resolve"}
    assert [t.task_id for t in county.downstream_list] == ["summary"]


def test_assets_link_screening_to_bulletin(bag):
    from fangpin import orchestration as orch

    screen = bag.dags["fangpin_monthly_ingest"].get_task("screen")
    assert orch.SCREENING in screen.outlets
    bulletin = bag.dags["fangpin_monthly_bulletin"]
    assert list(bulletin.timetable.asset_condition.objects) == [orch.SCREENING]


# ---------------------------------------------------------------- schedules -> periods

def _next_run(bag, dag_id, earliest: dt.datetime):
    """The scheduler's next run on or after `earliest`, through the serialized (core) timetable."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    tt = coerce_to_core_timetable(bag.dags[dag_id].timetable)
    info = tt.next_dagrun_info(last_automated_data_interval=None,
                               restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True))
    return info


def _period_of_scheduled(bag, kind, dag_id, earliest):
    from fangpin import orchestration as orch

    info = _next_run(bag, dag_id, earliest)
    ctx = {"params": {"period": None}, "data_interval_start": info.data_interval.start,
           "data_interval_end": info.data_interval.end, "logical_date": info.logical_date}
    return info, orch.period_of(kind, ctx)


def test_monthly_ingest_runs_on_the_6th_for_the_previous_month(bag):
    info, period = _period_of_scheduled(bag, "month", "fangpin_monthly_ingest", dt.datetime(2026, 11, 1, tzinfo=SH))
    assert info.run_after.in_timezone("Asia/Shanghai").isoformat().startswith("2026-11-06T06:00")
    assert period == "2026-10"
    info, period = _period_of_scheduled(bag, "month", "fangpin_monthly_ingest", dt.datetime(2027, 1, 1, tzinfo=SH))
    assert period == "2026-12"  # across the year boundary


def test_weekly_monday_run_reports_the_previous_week(bag):
    from fangpin.periods import Week

    info, period = _period_of_scheduled(bag, "week", "fangpin_weekly", dt.datetime(2026, 11, 16, tzinfo=SH))
    assert info.run_after.in_timezone("Asia/Shanghai").isoformat().startswith("2026-11-16T08:00")
    week = Week.parse(period)
    assert period == "2026-W46" and (week.start, week.end) == (dt.date(2026, 11, 9), dt.date(2026, 11, 15))


@pytest.mark.parametrize("month", ["2026-10", "2027-01"])
def test_draw_runs_at_the_start_of_its_month_on_the_draw_day(bag, month):
    """The spot-check draw of month M runs on day sample.draw_day of M (07:00) and works on M itself
    (not the previous month); the draw is dated that same day."""
    from fangpin import orchestration as orch
    from fangpin.periods import Month
    from fangpin.sample import draw_date

    m = Month.parse(month)
    info = _next_run(bag, "fangpin_monthly_draw", dt.datetime.combine(m.shift(-1).end, dt.time(8), tzinfo=SH))
    run_after = info.run_after.in_timezone("Asia/Shanghai")
    assert run_after.date() == draw_date(m) and run_after.hour == 7
    ctx = {"params": {"period": None}, "data_interval_start": info.data_interval.start,
           "data_interval_end": info.data_interval.end, "logical_date": info.logical_date}
    assert orch.current_month(ctx) == month
    assert orch.run_date("draw", month) == info.run_after
    assert orch.current_month({**ctx, "params": {"period": "2026-08"}}) == "2026-08"


def test_run_day_is_the_runs_own_date_in_shanghai():
    """The push date comes from the run (its data interval's end, else run_after, else logical
    date), never the wall clock: dag.test() sets run_after to now but the interval from the
    logical date it is given."""
    from fangpin import orchestration as orch

    class Run:
        run_after = dt.datetime(2026, 11, 5, 23, 30, tzinfo=dt.timezone.utc)  # the 6th in Shanghai

    assert orch.run_day({"dag_run": Run()}) == "2026-11-06"
    scheduled = dt.datetime(2026, 11, 6, 6, 0, tzinfo=SH)
    assert orch.run_day({"dag_run": type("Now", (), {"run_after": dt.datetime(2026, 11, 29, tzinfo=SH)})(),
                         "data_interval_end": scheduled}) == "2026-11-06"
    assert orch.run_day({"logical_date": dt.datetime(2026, 11, 8, 6, 0, tzinfo=SH)}) == "2026-11-08"
    with pytest.raises(ValueError):
        orch.run_day({})


def test_quarterly_run_reports_the_previous_quarter(bag):
    info, period = _period_of_scheduled(bag, "quarter", "fangpin_quarterly", dt.datetime(2027, 1, 2, tzinfo=SH))
    assert info.run_after.in_timezone("Asia/Shanghai").isoformat().startswith("2027-01-10T09:00")
    assert period == "2026-Q4"
    _, period = _period_of_scheduled(bag, "quarter", "fangpin_quarterly", dt.datetime(2026, 6, 20, tzinfo=SH))
    assert period == "2026-Q2"


class _Event:
    def __init__(self, period, ts):
        self.extra, self.timestamp = {"period": period}, ts


def test_bulletin_period_comes_from_the_screening_event_in_early_november():
    """The bulletin, triggered by the screening of 2026-10 on 6 November 2026, reports 2026-10."""
    from fangpin import orchestration as orch

    ts = dt.datetime(2026, 11, 6, 6, 30, tzinfo=SH)
    ctx = {"params": {"period": None}, "data_interval_start": None, "data_interval_end": None,
           "logical_date": None, "triggering_asset_events": {orch.SCREENING: [_Event("2026-10", ts)]}}
    assert orch.period_of("month", ctx) == "2026-10"
    # two screenings collapsed into one run: the latest event wins
    ctx["triggering_asset_events"] = {orch.SCREENING: [_Event("2026-10", ts), _Event("2026-09", ts - dt.timedelta(days=1))]}
    assert orch.period_of("month", ctx) == "2026-10"


def test_manual_period_param_wins_and_zero_width_runs_take_the_previous_period():
    from fangpin import orchestration as orch

    nov6 = dt.datetime(2026, 11, 6, 6, 0, tzinfo=SH)
    exact = {"data_interval_start": nov6, "data_interval_end": nov6, "logical_date": nov6}
    assert orch.period_of("month", {"params": {"period": "202608"}, **exact}) == "2026-08"
    assert orch.period_of("week", {"params": {"period": "2026-11-11"}, **exact}) == "2026-W46"
    assert orch.period_of("month", {"params": {}, **exact}) == "2026-10"
    assert orch.period_of("week", {"params": {}, **exact}) == "2026-W44"
    jan = dt.datetime(2027, 1, 3, 10, tzinfo=SH)
    assert orch.period_of("quarter", {"params": {}, "data_interval_start": jan, "data_interval_end": jan}) == "2026-Q4"
    # a UTC bound late on the last day is already the next day in Shanghai
    utc = dt.datetime(2026, 10, 31, 17, 0, tzinfo=dt.timezone.utc)
    assert orch.period_of("month", {"params": {}, "data_interval_start": utc,
                                    "data_interval_end": utc + dt.timedelta(days=30)}) == "2026-11"
    with pytest.raises(ValueError):
        orch.period_of("month", {"params": {}})


@pytest.mark.parametrize("kind,period", [("month", "2026-10"), ("month", "2026-12"), ("week", "2026-W43"),
                                         ("week", "2026-W53"), ("quarter", "2026-Q4"), ("quarter", "2027-Q1")])
def test_run_date_is_the_inverse_of_the_schedule(bag, kind, period):
    """orch.run_date(kind, period) is exactly the scheduled run for that period (what dag.test gets)."""
    from fangpin import orchestration as orch

    dag_id = {"month": "fangpin_monthly_ingest", "week": "fangpin_weekly", "quarter": "fangpin_quarterly"}[kind]
    when = orch.run_date(kind, period)
    info, derived = _period_of_scheduled(bag, kind, dag_id, when - dt.timedelta(minutes=1))
    assert info.run_after == when and derived == period


@pytest.mark.parametrize("quarter", ["2026-Q3", "2026-Q4", "2027-Q1"])
def test_quarterly_materials_are_dated_the_day_the_dag_runs(quarter):
    """The 季调度 materials print the meeting date (parameter quarterly.meeting_day); the
    quarterly DAG must run on that day, or leaders get papers dated before they exist."""
    from fangpin import orchestration as orch
    from fangpin.periods import Quarter
    from fangpin.reports.quarterly import meeting_date

    assert meeting_date(Quarter.parse(quarter)) == orch.run_date("quarter", quarter).date()


def test_last_week_of_a_month_reads_that_month():
    from fangpin import orchestration as orch
    from fangpin.periods import Week

    for month in ("2026-10", "2026-11", "2027-02", "2026-05"):
        week = Week.parse(orch.last_week_of(month))
        assert str(week.month) == month and (week.end + dt.timedelta(days=7)).strftime("%Y-%m") != month


def test_period_param_rejects_malformed_input():
    from airflow.sdk.definitions.param import ParamsDict

    from fangpin import orchestration as orch

    for kind, good, bad in [("month", "2026-10", "2026-W45"), ("week", "2026-W45", "2026-10"),
                            ("quarter", "2026-Q4", "2026-13")]:
        p = ParamsDict(orch.params(kind))
        p["period"] = good
        p.validate()
        with pytest.raises(Exception):
            p["period"] = bad
            p.validate()


# ---------------------------------------------------------------- the failure email

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failure_callback_emails_the_platform_team(monkeypatch, tmp_path):
    from aiosmtpd.controller import Controller

    from fangpin import config, orchestration as orch

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    port = _free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 5, "retry_limit": 0}}))
        monkeypatch.setenv("FANGPIN_PLATFORM_TEAM", '["ops-a@fangpin.test", "ops-b@fangpin.test"]')
        monkeypatch.setenv("FANGPIN_MAIL_FROM", "noreply@fangpin.test")
        config.reset()

        class TI:
            dag_id, task_id, map_index, try_number = "fangpin_monthly_ingest", "screen", -1, 3
            log_url = "http://localhost:8080/log"

        notifier = orch.default_args()["on_failure_callback"]
        notifier({"ti": TI(), "run_id": "scheduled__2026-11-06", "exception": ValueError("boom"),
                  "data_interval_start": "2026-10-06", "data_interval_end": "2026-11-06"})
    finally:
        ctl.stop()
        config.reset()
    assert len(received) == 1
    rcpt, content = received[0]
    assert sorted(rcpt) == ["ops-a@fangpin.test", "ops-b@fangpin.test"]
    msg = email.message_from_bytes(content)
    subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
    assert "fangpin_monthly_ingest" in subject and "screen" in subject and "失败" in subject
    body = "".join(p.get_payload(decode=True).decode() for p in msg.walk() if p.get_content_type() == "text/html")
    assert "boom" in body and "scheduled__2026-11-06" in body
    assert msg["From"] == "noreply@fangpin.test"


def test_monthly_ingest_fails_at_once_on_a_held_delivery(bag, tmp_path, monkeypatch):
    """The held-delivery rule in Airflow: an accept_partial Param (off), and a held delivery fails the
    ingest task without retry (AirflowFailException) with the reason — no screening follows."""
    from airflow.sdk.exceptions import AirflowFailException

    from fangpin.load import DeliveryHeld

    dag = bag.dags["fangpin_monthly_ingest"]
    assert dag.params["accept_partial"] is False
    seen = {}

    def held(data_dir, period, out_dir, accept_partial=False):
        seen["accept_partial"] = accept_partial
        raise DeliveryHeld(period, ["农户数据（households）未提供"])

    monkeypatch.setattr("fangpin.pipeline.ingest_summary", held)
    fn = dag.get_task("ingest").python_callable
    with pytest.raises(AirflowFailException, match="households"):
        fn("2026-10", str(tmp_path), str(tmp_path / "out"), outlet_events={}, params={"accept_partial": True})
    assert seen == {"accept_partial": True}
