"""Failure alerts for every run type (scheduled, asset-triggered, manual) and the DAG-level
alert, received by a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.policy
import json
import os
import socket
import tempfile
from types import SimpleNamespace
from zoneinfo import ZoneInfo

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="fangpin-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pytest  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def inbox(monkeypatch):
    from aiosmtpd.controller import Controller

    from fangpin import config

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = _free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 5, "retry_limit": 0}}))
    monkeypatch.setenv("FANGPIN_PLATFORM_TEAM", '["ops-a@fangpin.test"]')
    monkeypatch.setenv("FANGPIN_MAIL_FROM", "noreply@fangpin.test")
    config.reset()
    yield received
    ctl.stop()
    config.reset()


def _read(envelope):
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    body = msg.get_body(preferencelist=("html",)).get_content()
    return str(msg["Subject"]), body


class TI:
    def __init__(self, dag_id, task_id, map_index=-1, rendered=None, try_number=3):
        self.dag_id, self.task_id, self.map_index, self.try_number = dag_id, task_id, map_index, try_number
        self.rendered_map_index = rendered
        self.log_url = f"http://airflow.county:8080/dags/{dag_id}/runs/r/tasks/{task_id}?try_number={try_number}"


def _bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(os.path.join(os.path.dirname(__file__), "..", "dags"))


def _notify(context):
    from fangpin import orchestration as orch

    orch.default_args()["on_failure_callback"](context)


def test_scheduled_run_alert_names_dag_period_task_error_and_log(inbox):
    ti = TI("fangpin_monthly_ingest", "screen")
    _notify({"ti": ti, "run_id": "scheduled__2026-11-05T22:00:00+00:00", "params": {},
             "exception": ValueError("读取 incoming/2026-10/households.csv 第 3 行：身份证号 缺失\n更多细节"),
             "data_interval_start": dt.datetime(2026, 10, 6, 6, tzinfo=SH),
             "data_interval_end": dt.datetime(2026, 11, 6, 6, tzinfo=SH)})
    assert len(inbox) == 1 and inbox[0].rcpt_tos == ["ops-a@fangpin.test"]
    subject, body = _read(inbox[0])
    assert "fangpin_monthly_ingest" in subject and "2026-10" in subject and "screen" in subject
    assert "ValueError: 读取 incoming/2026-10/households.csv 第 3 行：身份证号 缺失" in body
    assert "更多细节" not in body  # the error line, not the traceback
    assert ti.log_url in body and "第 3 次尝试" in body


def test_asset_triggered_mapped_task_alert_names_the_township(inbox):
    """The bulletin run has no data interval keys at all (issue 14: UndefinedError)."""
    event = SimpleNamespace(extra={"period": "2026-10"}, timestamp=dt.datetime(2026, 11, 6, tzinfo=dt.timezone.utc))
    ti = TI("fangpin_monthly_bulletin", "send_township_problems", map_index=4, rendered="451302104 石陵镇")
    _notify({"ti": ti, "run_id": "asset_triggered__2026-11-06", "params": {},
             "triggering_asset_events": {"fangpin_screening": [event]},
             "exception": ConnectionRefusedError("SMTP down")})
    assert len(inbox) == 1
    subject, body = _read(inbox[0])
    assert "fangpin_monthly_bulletin" in subject and "2026-10" in subject
    assert "451302104 石陵镇" in subject and "451302104 石陵镇" in body
    assert "SMTP down" in body and ti.log_url in body


def test_manual_run_alert_takes_the_period_param_or_says_unknown(inbox):
    ti = TI("fangpin_weekly", "build_weekly")
    _notify({"ti": ti, "run_id": "manual__2026-11-20", "params": {"period": "2026-W45"},
             "exception": RuntimeError("no data")})
    # a manual run with nothing telling its period: the alert still goes, saying so
    ti2 = TI("fangpin_quarterly", "build_quarterly")
    _notify({"ti": ti2, "run_id": "manual__x", "params": {}, "exception": RuntimeError("boom")})
    assert len(inbox) == 2
    s1, b1 = _read(inbox[0])
    assert "2026-W45" in s1 and "build_weekly" in s1 and "RuntimeError: no data" in b1
    s2, b2 = _read(inbox[1])
    assert "期间未知" in s2 and "RuntimeError: boom" in b2


def test_one_notifier_renders_fresh_for_each_failure(inbox):
    """One instance serves every task of a DAG file: the second alert is not the first's text."""
    from fangpin import orchestration as orch

    notifier = orch.failure_notifier()
    for task_id, period in (("ingest", "2026-09"), ("screen", "2026-10")):
        notifier({"ti": TI("fangpin_monthly_ingest", task_id), "run_id": "manual__1",
                  "params": {"period": period}, "exception": ValueError(task_id)})
    subjects = [_read(e)[0] for e in inbox]
    assert "ingest" in subjects[0] and "2026-09" in subjects[0]
    assert "screen" in subjects[1] and "2026-10" in subjects[1]


def test_dag_level_alert_for_a_failed_run(inbox, ):
    """The DAG's on_failure_callback context has no task instance: dag, dag_run, reason."""
    from fangpin import orchestration as orch

    dag = _bag().dags["fangpin_monthly_bulletin"]
    # minimal context (dag-processor without the last task instance)
    orch.failure_notifier()({"dag": dag, "run_id": "asset_triggered__2026-11-06", "reason": "task_failure"})
    # with the last task instance's template context (what the dag-processor builds when it can)
    event = SimpleNamespace(extra={"period": "2026-10"}, timestamp=dt.datetime(2026, 11, 6, tzinfo=dt.timezone.utc))
    orch.failure_notifier()({"dag": dag, "run_id": "asset_triggered__2026-11-06", "reason": "task_failure",
                             "ti": TI("fangpin_monthly_bulletin", "build_bulletin"), "params": {},
                             "triggering_asset_events": {"fangpin_screening": [event]}})
    assert len(inbox) == 2
    s1, b1 = _read(inbox[0])
    assert "fangpin_monthly_bulletin" in s1 and "期间未知" in s1 and "整次运行" in s1
    assert "task_failure" in b1 and "asset_triggered__2026-11-06" in b1
    s2, b2 = _read(inbox[1])
    assert "2026-10" in s2 and "整次运行" in s2 and "build_bulletin" in b2


def test_every_dag_has_the_dag_level_alert():
    from fangpin import orchestration as orch

    bag = _bag()
    assert bag.dags and not bag.import_errors
    for dag in bag.dags.values():
        cbs = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
        assert any(isinstance(c, orch.PlatformFailureNotifier) for c in cbs), dag.dag_id
        assert dag.dag_id in orch.DAG_KINDS
