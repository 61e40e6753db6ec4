"""Email of reports through the Airflow SMTP provider, against a real SMTP server (aiosmtpd)
started on 127.0.0.1 in the test."""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket

import pytest
from sqlalchemy import select

from fangpin import notify
from fangpin.store import db
from fangpin.store.models import ReportDelivery

PDF_NAME = "兴宾区防返贫动态监测月通报_2026年10月.pdf"
SUBJECT = "【月通报】兴宾区防返贫动态监测工作月通报（2026年10月）"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """aiosmtpd handler: keeps every accepted envelope; `replies` scripts the first answers."""

    def __init__(self, replies: list[str] | None = None):
        self.envelopes = []
        self.replies = list(replies or [])
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def connection(monkeypatch, conn_id: str, port: int) -> None:
    value = {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "login": "", "password": "",
             "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 5, "retry_limit": 0}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


@pytest.fixture
def smtp(monkeypatch):
    """A running SMTP server and the Airflow connection `smtp_default` pointing at it."""
    from aiosmtpd.controller import Controller

    def start(replies=None):
        handler = Collector(replies)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        connection(monkeypatch, "smtp_default", port)
        return handler

    started = []
    yield start
    for c in started:
        c.stop()


@pytest.fixture
def eng(sqlite_url):
    return db.engine(sqlite_url)


@pytest.fixture
def pdf(tmp_path):
    path = tmp_path / PDF_NAME
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n")
    return path


def parsed(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.content, policy=email.policy.default)


def attachment(msg):
    parts = list(msg.iter_attachments())
    assert len(parts) == 1
    return parts[0]


def test_sends_one_mail_per_recipient_with_the_pdf(smtp, eng, pdf):
    server = smtp()
    to = ["leader1@county.gov.cn", "leader2@county.gov.cn"]
    sent = notify.send_report("monthly", "2026-10", pdf, to, SUBJECT, "<p>各位领导：详见附件。</p>", eng=eng)
    assert sent == to
    assert [e.rcpt_tos for e in server.envelopes] == [[to[0]], [to[1]]]
    for env, rcpt in zip(server.envelopes, to):
        msg = parsed(env)
        assert msg["Subject"] == SUBJECT
        assert msg["To"] == rcpt
        body = msg.get_body(preferencelist=("html",))
        assert "各位领导" in body.get_content()
        part = attachment(msg)
        assert part.get_filename() == PDF_NAME  # the Chinese name (RFC 2231)
        assert part.get_content_type() == "application/pdf"
        assert part.get_content() == pdf.read_bytes()
    raw = server.envelopes[0].content.decode("ascii")  # the whole message is 7-bit clean
    assert "filename*=UTF-8''%E5%85%B4%E5%AE%BE" in raw
    assert 'filename="monthly_bulletin_2026-10.pdf"' in raw  # ASCII fallback for old clients


def test_never_twice_unless_forced(smtp, eng, pdf):
    server = smtp()
    args = ("monthly", "2026-10", pdf, ["leader1@county.gov.cn"], SUBJECT, "<p>附件</p>")
    assert notify.send_report(*args, eng=eng) == ["leader1@county.gov.cn"]
    assert notify.send_report(*args, eng=eng) == []
    assert len(server.envelopes) == 1
    # a new recipient of the same report gets it; the old one still does not
    more = notify.send_report("monthly", "2026-10", pdf, ["leader1@county.gov.cn", "leader3@county.gov.cn"],
                              SUBJECT, "<p>附件</p>", eng=eng)
    assert more == ["leader3@county.gov.cn"]
    # another period is another report
    assert notify.send_report("monthly", "2026-11", pdf, ["leader1@county.gov.cn"], SUBJECT, "<p>附件</p>",
                              eng=eng) == ["leader1@county.gov.cn"]
    assert notify.send_report(*args, eng=eng, force=True) == ["leader1@county.gov.cn"]
    assert len(server.envelopes) == 4
    with eng.connect() as conn:
        rows = conn.execute(select(ReportDelivery.__table__).where(ReportDelivery.report == "monthly")).mappings().all()
    assert len(rows) == 4
    assert {r["attachment"] for r in rows} == {PDF_NAME}
    import hashlib

    assert {r["sha256"] for r in rows} == {hashlib.sha256(pdf.read_bytes()).hexdigest()}


def test_transient_failure_is_retried(smtp, eng, pdf):
    server = smtp(replies=["451 4.3.0 Try again later"])
    sent = notify.send_report("weekly", "2026-W43", pdf, ["leader1@county.gov.cn"], SUBJECT, "<p>附件</p>",
                              eng=eng, backoff=0.01)
    assert sent == ["leader1@county.gov.cn"]
    assert server.attempts == 2 and len(server.envelopes) == 1


def test_permanent_failure_is_not_retried_and_raises(smtp, eng, pdf):
    server = smtp(replies=["554 5.7.1 Rejected"] * 5)
    with pytest.raises(notify.DeliveryFailed, match="after 1 attempt"):
        notify.send_report("weekly", "2026-W43", pdf, ["leader1@county.gov.cn"], SUBJECT, "<p>附件</p>",
                           eng=eng, backoff=0.01)
    assert server.attempts == 1
    with eng.connect() as conn:
        assert conn.execute(select(ReportDelivery.__table__)).first() is None


def test_no_server_raises_after_retries(monkeypatch, eng, pdf, caplog):
    port = free_port()  # nothing listens there
    connection(monkeypatch, "smtp_down", port)
    with pytest.raises(notify.DeliveryFailed, match="after 3 attempt") as err:
        notify.send_report("monthly", "2026-10", pdf, ["leader1@county.gov.cn"], SUBJECT, "<p>附件</p>",
                           conn_id="smtp_down", eng=eng, attempts=3, backoff=0.01)
    assert isinstance(err.value.__cause__, OSError)
    assert sum("retrying" in r.message for r in caplog.records) == 2
    with eng.connect() as conn:
        assert conn.execute(select(ReportDelivery.__table__)).first() is None  # a later retry sends it


def test_township_list_goes_to_its_contact(smtp, eng, tmp_path):
    server = smtp()
    pdf = tmp_path / "城东镇防返贫监测问题清单_2026年10月.pdf"
    pdf.write_bytes(b"%PDF-1.7 township list")
    sent = notify.send_report("problems:451302100", "2026-10", pdf, ["township-451302100@fangpin.local"],
                              "【问题清单】2026年10月防返贫监测问题清单", "<p>请于3日内整改。</p>", eng=eng)
    assert sent == ["township-451302100@fangpin.local"]
    msg = parsed(server.envelopes[0])
    part = attachment(msg)
    assert part.get_filename() == pdf.name
    assert 'filename="problems_451302100_2026-10.pdf"' in server.envelopes[0].content.decode("ascii")
    assert part.get_content() == pdf.read_bytes()


def test_restricted_call_sheet_only_to_the_spot_check_team(smtp, eng, tmp_path):
    server = smtp()
    sheet = tmp_path / "城东镇_2026年10月_电话抽查表.pdf"
    sheet.write_bytes(b"%PDF-1.7 phones")
    with pytest.raises(PermissionError):
        notify.send_report("call_sheet", "2026-10", sheet, ["leader1@county.gov.cn"], "抽查表", "<p>x</p>", eng=eng)
    assert server.envelopes == []


def test_ascii_fallback_names():
    from pathlib import Path

    assert notify.ascii_fallback("monthly", "2026-10", Path(PDF_NAME)) == "monthly_bulletin_2026-10.pdf"
    assert notify.ascii_fallback("quarterly", "2026-Q4", Path("季度.pdf")) == "quarterly_dispatch_2026-Q4.pdf"
    assert notify.ascii_fallback("push_list:451302100", "2026-10", Path("推送清单.xlsx")) == \
        "push_list_451302100_2026-10.xlsx"
    assert notify.ascii_fallback("weekly", "2026-W43", Path("plain.pdf")) == "plain.pdf"


def test_connection_and_sender_follow_the_settings(smtp, eng, pdf, monkeypatch):
    """Reports go through settings().smtp_conn_id (not a hard-coded smtp_default), from
    FANGPIN_MAIL_FROM when set, else from the connection's from_email extra."""
    from fangpin import config

    server = smtp()
    server_port = json.loads(os.environ["AIRFLOW_CONN_SMTP_DEFAULT"])["port"]
    county = {"conn_type": "smtp", "host": "127.0.0.1", "port": server_port, "login": "", "password": "",
              "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 5, "retry_limit": 0,
                        "from_email": "bureau@xingbin.example"}}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_COUNTY", json.dumps(county))
    connection(monkeypatch, "smtp_default", free_port())  # smtp_default now leads nowhere
    monkeypatch.setenv("FANGPIN_SMTP_CONN_ID", "smtp_county")
    monkeypatch.delenv("FANGPIN_MAIL_FROM", raising=False)
    config.reset()
    try:
        args = ("monthly", "2026-10", pdf, ["leader1@county.gov.cn"], SUBJECT, "<p>附件</p>")
        assert notify.send_report(*args, eng=eng, attempts=1) == ["leader1@county.gov.cn"]
        assert server.envelopes[-1].mail_from == "bureau@xingbin.example"
        assert parsed(server.envelopes[-1])["From"] == "bureau@xingbin.example"

        monkeypatch.setenv("FANGPIN_MAIL_FROM", "fangpin@xingbin.example")
        config.reset()
        assert notify.send_report(*args, eng=eng, attempts=1, force=True) == ["leader1@county.gov.cn"]
        assert server.envelopes[-1].mail_from == "fangpin@xingbin.example"
    finally:
        config.reset()
