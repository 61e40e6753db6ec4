"""Email of reports through the Airflow SMTP provider (connection `smtp_default` by default).

Airflow-free at import: the provider is imported inside send_report(), so the package and its
tests run without an Airflow environment until a mail is really sent. The connection (host,
port, TLS/SSL, login) always comes from the Airflow connection; recipients come from
configuration (fangpin.config: leaders, township contacts), never from code.

Why the MIME message is built here rather than by SmtpHook.send_email_smtp(files=...): the hook
names an attachment with its base name only (one RFC 2231 `filename*` for a Chinese name, no
ASCII `filename=` fallback). We build the message with both parameters and send it through the
hook's SMTP client.

Guarantees:
- one email per recipient (recipients do not see each other's addresses), each recorded in
  ReportDelivery with the attachment's name and SHA-256;
- a recipient already recorded for (report, period) is skipped unless force=True (so a re-run
  or an Airflow retry never mails a report twice);
- corrections (更正版, fangpin.versions): when the PDF carries version info (the
  `<pdf>.version.json` the report builder writes), the report is compared on its content
  fingerprint with the last version sent: unchanged → nothing is sent again; changed → it is
  sent again as 更正版 N (subject and body say so, with what changed) to the configured
  recipients and everyone who received an earlier version; every version sent is recorded in
  ReportVersion and its PDF archived under `<folder of the PDF>/sent/<name>.v<N>.pdf`;
- transient failures (connection refused/reset, timeouts, 4xx replies) are retried with
  exponential backoff; after the last attempt DeliveryFailed is raised so the Airflow task
  fails and the platform team is alerted by the DAG's failure callback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import mimetypes
import re
import smtplib
import time
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

ATTEMPTS = 3          # tries per recipient
BACKOFF_SECONDS = 5.0  # wait before the 2nd try; doubled each time
ASCII_STEMS = {"weekly": "weekly_statistics", "monthly": "monthly_bulletin", "quarterly": "quarterly_dispatch"}


class DeliveryFailed(RuntimeError):
    """A report could not be delivered after every attempt."""


def ascii_fallback(report: str, period: str, attachment: Path) -> str:
    """The ASCII file name sent beside the Chinese one (monthly -> monthly_bulletin_2026-10.pdf,
    problems:451302100 -> problems_451302100_2026-10.pdf)."""
    name = Path(attachment).name
    if name.isascii():
        return name
    stem = ASCII_STEMS.get(report) or re.sub(r"[^A-Za-z0-9]+", "_", report).strip("_") or "report"
    return f"{stem}_{re.sub(r'[^A-Za-z0-9-]+', '_', str(period))}{Path(attachment).suffix or '.bin'}"


def content_disposition(name: str, fallback: str) -> str:
    """`attachment; filename*=UTF-8''<percent-encoded name>; filename="<ascii>"` (RFC 2231/6266).

    filename* comes first: clients that understand it (and Python's email parser) take the
    Chinese name; older clients ignore the unknown parameter and use the ASCII one."""
    if name.isascii():
        return f'attachment; filename="{name}"'
    return f"attachment; filename*=UTF-8''{quote(name, safe='')}; filename=\"{fallback}\""


def build_message(sender: str, recipient: str, subject: str, html_body: str, attachment: Path,
                  fallback: str, name: str | None = None) -> MIMEMultipart:
    """The email: a short HTML body and the attachment under its Chinese name with an ASCII fallback."""
    attachment = Path(attachment)
    msg = MIMEMultipart("mixed")
    msg["Subject"] = Header(subject, "utf-8")
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] if "@" in sender else None)
    msg.attach(MIMEText(html_body, "html", "utf-8"))
    name = name or attachment.name
    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    part = MIMEApplication(attachment.read_bytes(), ctype.split("/", 1)[1])
    part.set_param("name", fallback)
    part["Content-Disposition"] = content_disposition(name, fallback)
    msg.attach(part)
    return msg


def _transient(exc: BaseException) -> bool:
    """Worth another try: network trouble or a 4xx reply; a 5xx reply (bad address, refused) is not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, (smtplib.SMTPException, OSError)):
        return True
    return type(exc).__name__ == "AirflowException"  # the hook's "Unable to connect to smtp server"


DEFAULT_SENDER = "fangpin@fangpin.local"


def connection_sender(conn_id: str) -> str:
    """The `from_email` extra of an SMTP connection, else DEFAULT_SENDER."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    try:
        extra = SmtpHook.get_connection(conn_id).extra_dejson or {}
    except Exception:  # noqa: BLE001 - an unknown connection fails later, with its own error
        extra = {}
    return extra.get("from_email") or DEFAULT_SENDER


def _send_once(conn_id: str, sender: str | None, recipient: str, subject: str, html_body: str,
               attachment: Path, fallback: str, name: str | None = None) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=conn_id) as hook:
        from_addr = sender or hook.from_email or DEFAULT_SENDER
        msg = build_message(from_addr, recipient, subject, html_body, attachment, fallback, name)
        hook._smtp_client.sendmail(from_addr, [recipient], msg.as_string())


def _already_sent(eng, report: str, period: str, version: int | None = None) -> set[str]:
    """Recipients recorded for (report, period) — of that version only when `version` is given
    (deliveries recorded before versions existed count as version 1)."""
    from sqlalchemy import func

    from fangpin.store.models import ReportDelivery

    t = ReportDelivery.__table__
    where = [t.c.report == report, t.c.period == str(period)]
    if version is not None:
        where.append(func.coalesce(t.c.version, 1) == int(version))
    with eng.connect() as conn:
        return {r[0] for r in conn.execute(select(t.c.recipient).where(and_(*where)))}


def _record(eng, report: str, period: str, recipient: str, name: str, sha256: str, version: int | None = None) -> None:
    from fangpin.store.models import ReportDelivery

    with Session(eng) as s, s.begin():
        s.add(ReportDelivery(report=report, period=str(period), recipient=recipient, attachment=name,
                             sha256=sha256, sent_at=dt.datetime.now().replace(microsecond=0), version=version))


def correction_html(info: dict) -> str:
    """The paragraph a correction's email starts with: 更正版 N and what changed."""
    from html import escape

    n = int(info["version"]) - 1
    items = "".join(f"<li>{escape(c)}</li>" for c in info.get("changes") or [])
    return (f"<p><b>【更正版{n}】</b>本件为更正版{n}，替代此前发送的"
            f"{'原版' if n == 1 else f'更正版{n - 1}'}，请以本件为准。更正内容：</p><ul>{items}</ul>")


def resolve_version(eng, report: str, period: str, info: dict) -> int:
    """The version number `info` (a built report's version info) is sent as: the last version
    sent when the content is the same, else the new version the builder numbered; StaleReport
    when another version was sent after this PDF was built."""
    from fangpin.versions import StaleReport, last_sent

    last = last_sent(report, period, eng)
    if last is None:
        return int(info["version"]) if int(info["version"]) == 1 else 1
    if last["fingerprint"] == info["fingerprint"]:
        return int(last["version"])
    if int(info["version"]) <= int(last["version"]):
        raise StaleReport(f"{report} {period}: this PDF (version {info['version']}) was built before version "
                          f"{last['version']} was sent; rebuild the report before sending")
    return int(info["version"])


def _check_restricted(pdf: Path, recipients: list[str]) -> None:
    """Restricted call sheets (full phone numbers) go to the spot-check team only."""
    try:
        from fangpin.callsheets import is_restricted
    except ImportError:
        return
    if is_restricted(pdf):
        from fangpin.config import settings

        outside = set(recipients) - set(settings().spot_check_team)
        if outside:
            raise PermissionError(f"{pdf.name} is a restricted call sheet; refusing to mail it to "
                                  f"{len(outside)} recipient(s) outside the spot-check team")


def send_report(report: str, period: str, pdf: Path, recipients: list[str], subject: str, html_body: str,
                conn_id: str | None = None, force: bool = False, eng=None, sender: str | None = None,
                ascii_name: str | None = None, attempts: int = ATTEMPTS,
                backoff: float = BACKOFF_SECONDS, version: dict | None = None,
                archive_dir: Path | None = None, attachment_name: str | None = None) -> list[str]:
    """Emails `pdf` to each recipient (one message each); returns the recipients mailed now.

    `version` is the report's version info (fangpin.versions.prepare; default: read from the
    `<pdf>.version.json` beside the PDF). With it, recipients already sent this version are
    skipped unless `force`; a changed report is a new version (更正版 N: subject and body say so),
    sent to `recipients` plus everyone who received an earlier version, recorded in
    ReportVersion and archived in `archive_dir` (default `<folder of the PDF>/sent`). Without
    it, recipients already recorded for (report, period) are skipped unless `force`.
    `attachment_name` is the name the recipient sees (default: the file's own name). Each send is tried `attempts` times (waiting backoff, 2×backoff, … between tries)
    on transient failures; the last failure raises DeliveryFailed (recipients mailed before it
    stay recorded, so a retry of the task mails only the rest).

    The connection is `conn_id`, else settings().smtp_conn_id; the sender is `sender`, else
    settings().mail_from (FANGPIN_MAIL_FROM), else the connection's `from_email` extra."""
    from fangpin.config import settings

    pdf = Path(pdf)
    if not pdf.is_file():
        raise FileNotFoundError(f"attachment not found: {pdf}")
    wanted = list(dict.fromkeys(r.strip() for r in recipients if r and r.strip()))
    _check_restricted(pdf, wanted)
    if eng is None:
        from fangpin.store import db

        eng = db.engine()
    if version is None:
        from fangpin.versions import read_meta

        version = read_meta(pdf)
    number = None
    if version is not None:
        number = resolve_version(eng, report, str(period), version)
        if number > 1:
            earlier = _already_sent(eng, report, period)  # everyone who received an earlier version
            wanted = list(dict.fromkeys([*wanted, *sorted(earlier)]))
            _check_restricted(pdf, wanted)
            if "更正版" not in subject:
                subject = f"【更正版{number - 1}】{subject}"
            html_body = correction_html({**version, "version": number}) + html_body
    done = set() if force else _already_sent(eng, report, period, number)
    todo = [r for r in wanted if r not in done]
    if len(todo) < len(wanted):
        log.info("%s %s: %d recipient(s) already sent, skipped (force=False)", report, period, len(wanted) - len(todo))
    if not todo:
        if number is not None and done:  # reports mailed before versions were recorded: adopt as sent
            _archive_version(eng, report, str(period), pdf, {**version, "version": number},
                             hashlib.sha256(pdf.read_bytes()).hexdigest(), archive_dir)
        return []
    sender = sender or settings().mail_from
    conn_id = conn_id or settings().smtp_conn_id
    fallback = ascii_name or ascii_fallback(report, period, pdf)
    if number and number > 1 and "correction" not in fallback:
        from fangpin.versions import versioned_ascii

        fallback = versioned_ascii(fallback, number)
    sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    sent = []
    for recipient in todo:
        for attempt in range(1, attempts + 1):
            try:
                _send_once(conn_id, sender, recipient, subject, html_body, pdf, fallback, attachment_name)
                break
            except Exception as exc:  # noqa: BLE001 - classified below
                if not _transient(exc) or attempt == attempts:
                    raise DeliveryFailed(
                        f"{report} {period}: sending {pdf.name} to {recipient} failed after {attempt} "
                        f"attempt(s) via connection {conn_id!r}: {type(exc).__name__}: {exc}") from exc
                wait = backoff * 2 ** (attempt - 1)
                log.warning("%s %s: attempt %d/%d to %s failed (%s: %s); retrying in %.1fs", report, period,
                            attempt, attempts, recipient, type(exc).__name__, exc, wait)
                time.sleep(wait)
        if number is not None and not sent:
            _archive_version(eng, report, str(period), pdf, {**version, "version": number}, sha, archive_dir)
        _record(eng, report, period, recipient, attachment_name or pdf.name, sha, number)
        sent.append(recipient)
        log.info("%s %s: %s sent to %s", report, period, pdf.name, recipient)
    return sent


def _archive_version(eng, report: str, period: str, pdf: Path, info: dict, sha: str, archive_dir: Path | None) -> None:
    """Keeps the PDF of a version as sent (<archive_dir>/<name>.v<N><suffix>) and records the version."""
    import shutil

    from fangpin.versions import record_version

    folder = Path(archive_dir) if archive_dir else pdf.parent / "sent"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{pdf.stem}.v{int(info['version'])}{pdf.suffix}"
    if not target.exists():
        shutil.copy2(pdf, target)
    record_version(eng, report, period, info, pdf.name, str(target), sha)
