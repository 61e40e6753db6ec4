"""Restricted call sheets reach the spot-check team (and no one else) as 【内部·限定范围】 mail,
received by a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="fangpin-airflow-"))

import pytest  # noqa: E402

from test_notify import smtp  # noqa: E402,F401  (the aiosmtpd fixture)


@pytest.fixture
def team(monkeypatch):
    from fangpin import config

    monkeypatch.setenv("FANGPIN_SPOT_CHECK_TEAM", '["caller-a@fangpin.test", "caller-b@fangpin.test"]')
    monkeypatch.setenv("FANGPIN_LEADERS", '["leader@fangpin.test"]')
    monkeypatch.setenv("FANGPIN_MAIL_FROM", "noreply@fangpin.test")
    config.reset()
    yield
    config.reset()


def _sheet(tmp_path, name="451302104_石陵镇_电话抽查表.xlsx"):
    folder = tmp_path / "2026-11" / "call_sheets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"PK\x03\x04 call sheet with 13800000000")
    return path


def test_call_sheets_go_to_the_spot_check_team_only_once(smtp, team, tmp_path, sqlite_url):
    from fangpin.pipeline import send_call_sheets
    from fangpin.store import db

    server = smtp()
    eng = db.engine(sqlite_url)
    path = _sheet(tmp_path)
    sent = send_call_sheets("2026-11", "451302104", [str(path)], eng=eng)
    assert sent == ["caller-a@fangpin.test", "caller-b@fangpin.test"]
    rcpts = sorted(r for e in server.envelopes for r in e.rcpt_tos)
    assert rcpts == ["caller-a@fangpin.test", "caller-b@fangpin.test"]  # never the leaders
    msg = email.message_from_bytes(server.envelopes[0].content, policy=email.policy.default)
    assert str(msg["Subject"]).startswith("【内部·限定范围】")
    assert "石陵镇" in str(msg["Subject"]) and "不得转发" in msg.get_body(preferencelist=("html",)).get_content()
    part = next(msg.iter_attachments())
    assert part.get_content() == path.read_bytes()
    # a re-run sends nothing again; force sends again
    assert send_call_sheets("2026-11", "451302104", [str(path)], eng=eng) == []
    assert len(server.envelopes) == 2
    assert len(send_call_sheets("2026-11", "451302104", [str(path)], force=True, eng=eng)) == 2


def test_only_call_sheets_go_as_restricted_mail_and_never_outside_the_team(smtp, team, tmp_path, sqlite_url):
    from fangpin import notify
    from fangpin.pipeline import send_call_sheets
    from fangpin.store import db

    server = smtp()
    eng = db.engine(sqlite_url)
    other = tmp_path / "report.pdf"
    other.write_bytes(b"%PDF-1.7")
    with pytest.raises(ValueError, match="not a call sheet"):
        send_call_sheets("2026-11", "451302104", [str(other)], eng=eng)
    with pytest.raises(PermissionError, match="restricted"):
        notify.send_report("call_sheet:451302104", "2026-11", _sheet(tmp_path), ["leader@fangpin.test"],
                           subject="x", html_body="x", eng=eng)
    assert server.envelopes == []


def test_draw_dag_mails_the_call_sheets_after_writing_them():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(os.path.join(os.path.dirname(__file__), "..", "dags"))
    dag = bag.dags["fangpin_monthly_draw"]
    send = dag.get_task("send_call_sheet")
    assert "write_call_sheet" in send.upstream_task_ids
    assert send.map_index_template and "township" in send.map_index_template
