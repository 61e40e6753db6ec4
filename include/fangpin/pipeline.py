"""One call per stage: what the CLI commands and the Airflow tasks run.

Each function takes a period and folders, does one stage on the monitoring database and
returns a small JSON-serialisable summary (what an Airflow task pushes to XCom).
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from pathlib import Path

from fangpin.periods import Month

log = logging.getLogger(__name__)


def _engine(eng=None):
    from fangpin.store import db

    return eng or db.engine()


HEARTBEAT_STALE = dt.timedelta(hours=6)   # a 'running' run without a heartbeat for this long was killed


@contextmanager
def recorded(stage: str, period: str, eng):
    """Records a PipelineRun row around a stage (status success/failed/held, timings, detail).

    The row names its host and pid and carries a heartbeat (_beat refreshes it), so a run that
    was killed is recognisable: runs() reports a 'running' row as
    'abandoned' when its process is gone (same host) or its heartbeat is older than
    HEARTBEAT_STALE, and the next run of the same stage and period marks such rows so.
    """
    import os
    import socket

    from fangpin.store.models import PipelineRun
    from sqlalchemy.orm import Session

    _mark_abandoned(eng, stage, str(period))
    now = dt.datetime.now()
    with Session(eng, expire_on_commit=False) as s, s.begin():
        run = PipelineRun(stage=stage, period=str(period), started_at=now, status="running",
                          heartbeat_at=now, host=socket.gethostname()[:255], pid=os.getpid())
        s.add(run)
    detail: dict = {}
    try:
        yield detail
    except BaseException as exc:
        from fangpin.load import DeliveryHeld

        if isinstance(exc, DeliveryHeld):
            _finish(eng, run.id, "held", {**detail, "held": exc.reasons})
        else:
            _finish(eng, run.id, "failed", {**detail, "error": type(exc).__name__})
        raise
    _finish(eng, run.id, "success", detail)


def _beat(eng, run_id) -> None:
    from fangpin.store.models import PipelineRun
    from sqlalchemy import update

    with eng.begin() as conn:
        conn.execute(update(PipelineRun.__table__).where(PipelineRun.__table__.c.id == run_id)
                     .values(heartbeat_at=dt.datetime.now()))


def _finish(eng, run_id, status, detail):
    from fangpin.store.models import PipelineRun
    from sqlalchemy.orm import Session

    with Session(eng) as s, s.begin():
        run = s.get(PipelineRun, run_id)
        now = dt.datetime.now()
        run.status, run.finished_at, run.heartbeat_at = status, now, now
        run.detail = {k: v for k, v in detail.items() if isinstance(v, (str, int, float, bool, list, dict))}


def _alive(host: str | None, pid: int | None) -> bool | None:
    """Whether a run's process still exists (None when it ran on another host)."""
    import os
    import socket

    if host != socket.gethostname()[:255] or not pid:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_status(row, now: dt.datetime | None = None) -> str:
    """A run's status as it should be read: a 'running' row of a killed run is 'abandoned'."""
    if row.status != "running":
        return row.status
    alive = _alive(row.host, row.pid)
    if alive is False:
        return "abandoned"
    beat = row.heartbeat_at or row.started_at
    if alive is None and beat is not None and (now or dt.datetime.now()) - beat > HEARTBEAT_STALE:
        return "abandoned"
    return "running"


def runs(eng=None, stage: str | None = None, period: str | None = None):
    """pipeline_runs as a frame, newest first, with `status` as it should be read (abandoned)."""
    import pandas as pd
    from sqlalchemy import select

    from fangpin.store.models import PipelineRun

    t = PipelineRun.__table__
    q = select(t)
    if stage:
        q = q.where(t.c.stage == stage)
    if period:
        q = q.where(t.c.period == str(period))
    with _engine(eng).connect() as conn:
        frame = pd.read_sql(q.order_by(t.c.id.desc()), conn)
    if len(frame):
        frame["status"] = [effective_status(r) for r in frame.itertuples()]
    return frame


def _mark_abandoned(eng, stage: str, period: str) -> None:
    from sqlalchemy import select, update

    from fangpin.store.models import PipelineRun

    t = PipelineRun.__table__
    with eng.connect() as conn:
        rows = conn.execute(select(t).where(t.c.stage == stage, t.c.period == period,
                                            t.c.status == "running")).all()
    dead = [r.id for r in rows if effective_status(r) == "abandoned"]
    if dead:
        with eng.begin() as conn:
            conn.execute(update(t).where(t.c.id.in_(dead), t.c.status == "running").values(status="abandoned"))


def ingest(data_dir: Path, period: str | Month, out_dir: Path | None = None, eng=None,
           build_docs: bool = True, progress=None, accept_partial: bool = False):
    """Validates a delivery and loads its accepted rows, atomically (docs/store.md).

    The validation history, the quarantine and the loaded rows of the period change in one
    transaction (fangpin.load.load_delivery); the summary and quarantine files are written
    after it commits. A held delivery raises fangpin.load.DeliveryHeld after writing the
    summary (whose 说明 says why): nothing in the database is replaced.
    """
    from fangpin.load import DeliveryHeld, load_delivery
    from fangpin.validate import validate_delivery, write_outputs

    from fangpin.problems import rectification_check

    eng = _engine(eng)
    month = Month.parse(str(period))
    if out_dir is not None:
        check_writable(Path(out_dir))
    with recorded("ingest", str(month), eng) as detail:
        validation = validate_delivery(Path(data_dir), month, out_dir=out_dir, eng=eng, build_docs=build_docs,
                                       store=False, write=False,
                                       row_checks={"rectifications": rectification_check(eng)})
        detail["rejected"] = validation.rejected
        try:
            detail["loaded"] = load_delivery(eng, validation, progress=progress, accept_partial=accept_partial)
        except DeliveryHeld as held:
            for name in ("households", "members"):
                o = validation.outcomes.get(name)
                if o is not None:
                    o.message = f"{o.message}；{held}" if o.message else str(held)
            if out_dir is not None:
                write_outputs(validation, Path(out_dir))
            raise
        if out_dir is not None:
            write_outputs(validation, Path(out_dir))
    return validation


def check_writable(out_dir: Path) -> None:
    """Raises OutputNotWritable (one line, naming the folder) when `out_dir` cannot be written."""
    import os
    import tempfile

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".fangpin-write-test-", dir=out_dir)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputNotWritable(f"输出目录不可写：{out_dir}（{exc.strerror or type(exc).__name__}）") from None


class OutputNotWritable(Exception):
    """The output folder cannot be written (an environment problem: exit status 2)."""


def ingest_summary(data_dir: str, period: str, out_dir: str, accept_partial: bool = False) -> dict:
    """ingest() for an Airflow task: a JSON-serialisable summary of the validation.

    A held delivery raises fangpin.load.DeliveryHeld (the task fails with its message)."""
    validation = ingest(Path(data_dir), period, out_dir=Path(out_dir), accept_partial=accept_partial)
    return {
        "period": str(validation.period),
        "rejected": list(validation.rejected),
        "data_docs": str(validation.data_docs) if validation.data_docs else None,
        "feeds": {n: {"status": o.status, "rows": o.rows_total, "accepted": o.rows_accepted,
                      "quarantined": o.rows_quarantined, "unmatched": o.rows_unmatched}
                  for n, o in validation.outcomes.items()},
    }


# The feeds each screening rule reads (data contract section 2): when one was not delivered
# for the period, the rule could not be evaluated and the screening says so.
RULE_FEEDS = {
    "R01": ("households",), "R02": ("households",), "R03": ("disability", "members"),
    "R04": ("civil_affairs", "members"), "R05": ("medical", "members"), "R06": ("members",),
    "R07": ("members",), "R08": ("education", "members"), "R09": ("medical", "members"),
    "R10": ("housing",), "R11": ("education", "members"), "R12": ("health", "members"),
    "R13": ("employment", "members"),
}


def missing_feeds(period: str, eng=None, feeds=None) -> list[str]:
    """Feeds of `feeds` (default: those the screening reads) with no rows loaded for the period
    whose current validation says 未提供 or 拒收 (or that were never validated)."""
    from fangpin.quality.history import history
    from fangpin.store.db import FEED_TABLES
    from sqlalchemy import func, select

    eng = _engine(eng)
    feeds = feeds or sorted({f for fs in RULE_FEEDS.values() for f in fs})
    runs = history(eng, period=str(period), current_only=True)
    status = dict(zip(runs["feed"], runs["status"])) if len(runs) else {}
    out = []
    with eng.connect() as conn:
        for name in feeds:
            t = FEED_TABLES[name]
            n = conn.execute(select(func.count()).select_from(t).where(t.c.period == str(period))).scalar_one()
            if not n and status.get(name, "未提供") in ("未提供", "拒收"):
                out.append(name)
    return out


def missing_feed_warning(period: str, missing: list[str]) -> str | None:
    """One Chinese line naming the feeds not delivered and the rules that could not be evaluated."""
    from fangpin.feeds import FEEDS

    if not missing:
        return None
    rules = [r for r, fs in RULE_FEEDS.items() if set(fs) & set(missing)]
    names = "、".join(f"{FEEDS[n].label}（{n}）" for n in missing)
    return (f"{period}期{names}数据未提供或被拒收，规则{'、'.join(rules)}无法评估，"
            f"筛查结果不完整（未命中不代表没有风险）")


def screen_period(period: str, out_dir: str, push_lists: bool = False, eng=None,
                  pushed_on: dt.date | str | None = None) -> dict:
    """Screens the loaded period, stores the results and writes screening.csv (and push lists).

    pushed_on: the day the push lists are sent (the ingest run's date; default the scheduled
    ingest day, fangpin.screen.push_dates); a household already pushed for the period keeps its date.

    When a feed the rules read was not delivered (or rejected, with nothing loaded), the result
    says so: detail["missing_feeds"], detail["rules_not_evaluated"] and detail["warning"] (one
    Chinese line, also logged and recorded in pipeline_runs); screening.csv is still written.
    """
    from fangpin import screen

    eng = _engine(eng)
    if isinstance(pushed_on, str):
        pushed_on = dt.date.fromisoformat(pushed_on)
    with recorded("screen", period, eng) as detail:
        missing = missing_feeds(str(period), eng)
        if missing:
            detail["missing_feeds"] = missing
            detail["rules_not_evaluated"] = [r for r, fs in RULE_FEEDS.items() if set(fs) & set(missing)]
            detail["warning"] = missing_feed_warning(str(period), missing)
            log.info("%s", detail["warning"])
        results = screen.screen(screen.load_frames(eng, str(period)), str(period))
        stored = screen.store_screening(eng, str(period), results, pushed_on=pushed_on)
        screen.write_screening_csv(stored, Path(out_dir))
        if push_lists:
            from fangpin.pushlists import write_push_lists

            write_push_lists(eng, str(period), Path(out_dir))
        detail["suspected"] = int(len(stored))
        detail["townships"] = sorted(stored["township_code"].unique().tolist()) if len(stored) else []
        pushed = stored[~stored["already_monitored"].astype(bool)]
        detail["push_townships"] = sorted(pushed["township_code"].unique().tolist()) if len(pushed) else []
        detail["pushed_on"] = str(pushed["pushed_on"].min().date()) if len(pushed) else None
    return detail


def audit_period(period: str, out_dir: str, eng=None) -> dict:
    """Registry audit (A01–A12) of the loaded period: stores the results and writes audit.csv.
    The summary names the checks skipped because their optional households columns are absent."""
    from fangpin import audit

    eng = _engine(eng)
    with recorded("audit", period, eng) as detail:
        absent = missing_feeds(str(period), eng, feeds=audit.needed_feeds())
        result = audit.audit(audit.load_frames(eng, str(period)), str(period), absent_feeds=absent)
        audit.store_audit(eng, result)
        audit.write_audit_csv(result, Path(out_dir))
        detail["flagged"] = int(len(result.flagged))
        detail["by_check"] = {c: int(n) for c, n in zip(result.checks["code"], result.checks["flagged"]) if n}
        detail["skipped"] = result.skipped
        detail["skipped_text"] = result.skipped_text()
        detail["caveats"] = result.caveats()
    return detail


def review_period(period: str, out_dir: str, seed: int | None = None, eng=None) -> dict:
    """County sample review of the period's new decisions (拟纳入 / 拟消除): draws, records and
    writes review_draw.csv; the summary has the 抽查比例 and the outcomes known so far."""
    from fangpin import review

    eng = _engine(eng)
    with recorded("review", period, eng) as detail:
        drawn = review.run_review_draw(eng, str(period), Path(out_dir), seed=seed)
        summary = review.review_summary(eng, str(period))
        detail["drawn"] = int(len(drawn))
        detail["summary"] = summary.astype(object).where(summary.notna(), None).to_dict("records")
    return detail


def township_codes(period: str, eng=None) -> list[str]:
    """The townships of the period's regions feed (the unit of per-township mapped tasks)."""
    from fangpin.store.db import read_feed

    regions = read_feed(_engine(eng), "regions", str(period))
    return sorted(regions.loc[regions["level"] == "乡镇", "code"].tolist())


def write_push_list(period: str, township_code: str, out_dir: str, eng=None) -> str | None:
    from fangpin.pushlists import write_push_lists

    paths = write_push_lists(_engine(eng), str(period), Path(out_dir), townships=[township_code])
    return str(paths[0]) if paths else None


def _township_name(eng, period: str, township_code: str) -> str:
    from fangpin.store.db import read_feed

    regions = read_feed(eng, "regions", str(period), columns=["code", "name"])
    names = regions.drop_duplicates("code").set_index("code")["name"]
    return str(names.get(township_code, township_code))


def _html_figures(title: str, rows: list[tuple[str, str]]) -> str:
    """A small two-column table of key figures for an email body (escaped; figures only)."""
    from html import escape

    cells = "".join(f"<tr><td>{escape(k)}</td><td style='text-align:right'>{escape(str(v))}</td></tr>" for k, v in rows)
    return f"<p><b>{escape(title)}</b></p><table border='1' cellpadding='3' cellspacing='0'>{cells}</table>"


def _iso_day(v) -> str:
    """'2026-11-21' from a date/Timestamp/text; '' when missing."""
    import re

    text = "" if v is None else str(v)
    return text[:10] if re.match(r"\d{4}-\d{2}-\d{2}", text) else ""


def push_list_version(period: str, township_code: str, eng=None) -> dict:
    """The version info of a township's push list (content = its suspected households, already
    monitored ones excluded), so a changed push list is re-sent as 更正版 N."""
    from fangpin.pushlists import push_rows
    from fangpin.versions import changes, fingerprint, last_sent

    eng = _engine(eng)
    rows = push_rows(eng, str(period), [township_code])
    if "already_monitored" in rows:
        rows = rows[~rows["already_monitored"].astype(bool)]
    content = [{"household_id": r.household_id, "village_code": r.village_code, "risk_level": r.risk_level,
                "rules": r.rules, "verify_by": _iso_day(getattr(r, "verify_by", None))}
               for r in rows.itertuples(index=False)]
    high = sum(1 for c in content if c["risk_level"] == "高")
    summ = {"figures": {"推送户数（户）": len(content), "其中高风险（户）": high},
            "problems": {}, "extra": {"households": sorted(c["household_id"] for c in content),
                                      "verify_by": max((c["verify_by"] for c in content), default="")}}
    fp = fingerprint({"rows": content})
    key = f"push_list:{township_code}"
    last = last_sent(key, str(period), eng)
    if last is None:
        version, diff = 1, []
    elif last["fingerprint"] == fp:
        version, diff = last["version"], list(last.get("changes") or [])
    else:
        version = last["version"] + 1
        old, new = set(last["summary"]["extra"].get("households", [])), set(summ["extra"]["households"])
        diff = changes(last["summary"], summ)
        diff = [d for d in diff if not d.startswith("明细更正")]
        if new - old:
            diff.append(f"新增推送{len(new - old)}户")
        if old - new:
            diff.append(f"撤回推送{len(old - new)}户")
        diff = diff or ["推送户的村、风险等级或核实截止日期有更正"]
    return {"report": key, "period": str(period), "kind": "push_list", "version": version, "fingerprint": fp,
            "summary": summ, "changes": diff}


def send_push_list(period: str, township_code: str, path: str | None, force: bool = False, eng=None) -> list[str]:
    """Emails a township its push list (to the township's configured contact); a push list whose
    content changed after it was sent goes again as 更正版 N."""
    if not path:
        return []
    from fangpin.config import settings
    from fangpin.notify import send_report
    from fangpin.versions import versioned_name

    to = settings().township_contact(township_code)
    if not to:
        return []
    eng = _engine(eng)
    info = push_list_version(period, township_code, eng)
    name = _township_name(eng, period, township_code)
    month = Month.parse(period)
    verify_by = info["summary"]["extra"]["verify_by"]
    if not verify_by:
        from fangpin.screen import push_dates

        verify_by = str(push_dates(period, settings().province)[1])
    by = f"{int(verify_by[5:7])}月{int(verify_by[8:10])}日"
    fig = info["summary"]["figures"]
    body = (f"<p>{name}：</p><p>附件为{month.label}数据比对筛查出的本乡镇疑似返贫致贫风险户推送清单，"
            f"请组织入户核实，于{by}前反馈核实结论。</p>"
            + _html_figures("清单概况", [("推送户数", f"{fig['推送户数（户）']}户"), ("其中高风险", f"{fig['其中高风险（户）']}户"),
                                     ("核实截止日期", by)])
            + f"<p>{settings().issuing_office}</p>")
    path = Path(path)
    return send_report(f"push_list:{township_code}", str(period), path, [to],
                       subject=f"【推送清单】{name}{month.label}疑似风险户推送清单（请于{by}前入户核实）",
                       html_body=body, force=force, eng=eng, version=info,
                       attachment_name=versioned_name(f"{name}疑似风险户推送清单_{month.year}年{month.month}月{path.suffix}",
                                                      info["version"]),
                       ascii_name=f"push_list_{township_code}_{month}{path.suffix}",
                       archive_dir=path.parent / "sent")


def derive_problems(period: str, eng=None) -> dict:
    from fangpin import problems

    eng = _engine(eng)
    with recorded("problems", period, eng) as detail:
        frame = problems.derive_problems(eng, str(period))
        detail["problems"] = int(len(frame))
        if len(frame):
            detail["by_type"] = {str(k): int(v) for k, v in frame["problem_type"].value_counts().items()}
    return detail


def ingest_week(week: str, data_dir: str | Path, out_dir: str | Path | None = None, eng=None) -> dict:
    """Validates and loads a week's feedback drop folder, normally <data_root>/weekly/<YYYY-Www>/
    (fangpin.weekly.week_folder); a missing folder is reported (delivered=False), not a failure."""
    from fangpin.weekly import ingest_week as ingest_

    eng = _engine(eng)
    with recorded("ingest_week", str(week), eng) as detail:
        result = ingest_(eng, week, Path(data_dir), out_dir=out_dir)
        detail.update(result.summary())
    return detail


def weekly_feedback(week: str, eng=None) -> dict:
    """The weekly run on problems: rectifications (every delivery) close problems, then problems
    whose deadline passed by the week's Sunday are marked 黄 (fangpin.problems.mark_overdue)."""
    from fangpin import problems
    from fangpin.periods import Week

    eng = _engine(eng)
    w = Week.parse(str(week))
    with recorded("weekly_feedback", str(w), eng) as detail:
        unknown = problems.apply_rectifications(eng)
        yellow = problems.mark_overdue(eng, w.end)
        detail["unknown_rectifications"] = int(len(unknown))
        detail["yellow"] = int(len(yellow))
        detail["turned_yellow"] = int(len(problems.turned_yellow(eng, w.start, w.end)))
    return detail


def write_problems(period: str, out_dir: str | Path, as_of: dt.date | str | None = None, eng=None) -> str:
    """OUT/problems.csv of the period (data contract section 3) as of `as_of` (default: bulletin date)."""
    from fangpin import problems

    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of)
    return str(problems.write_problems_csv(_engine(eng), str(period), Path(out_dir), as_of=as_of))


def sample_period(period: str, out_dir: str, seed: int | None = None, call_sheets: bool = False, eng=None,
                  keep_recorded: bool = False) -> dict:
    """The month's spot-check draw, dated sample.draw_day of the month (fangpin.sample.run_sample).
    keep_recorded: a month already drawn is drawn again with its recorded seed (the bulletin)."""
    from fangpin import sample

    eng = _engine(eng)
    with recorded("sample", period, eng) as detail:
        drawn = sample.run_sample(eng, str(period), Path(out_dir), seed=seed, keep_recorded=keep_recorded)
        if call_sheets:
            from fangpin.callsheets import write_call_sheets

            write_call_sheets(eng, str(period), Path(out_dir))
        detail["drawn"] = int(len(drawn))
        detail["seed"] = int(drawn["随机种子"].iloc[0]) if len(drawn) else None
        detail["drawn_on"] = str(sample.draw_date(period))
        detail["townships"] = sorted(drawn["乡镇代码"].unique().tolist()) if len(drawn) else []
    return detail


def write_call_sheet(period: str, township_code: str, out_dir: str, eng=None) -> list[str]:
    from fangpin.callsheets import write_call_sheets

    return [str(p) for p in write_call_sheets(_engine(eng), str(period), Path(out_dir), townships=[township_code])]


RESTRICTED_SUBJECT = "【内部·限定范围】{label}电话抽查表：{township}（含完整联系电话，仅限抽查组使用，不得转发）"


def send_call_sheets(period: str, township_code: str, paths: list[str], force: bool = False, eng=None) -> list[str]:
    """Emails a township's call sheets (restricted: full phone numbers) to settings().spot_check_team
    only, one message per file, never twice unless forced; returns the recipients mailed now
    (fangpin.notify refuses any recipient outside the spot-check team)."""
    from fangpin.callsheets import SUFFIX, is_restricted
    from fangpin.config import settings
    from fangpin.notify import send_report

    team = list(settings().spot_check_team)
    month = Month.parse(period)
    sent: list[str] = []
    for path in map(Path, paths or []):
        if not is_restricted(path):
            raise ValueError(f"{path.name} is not a call sheet; refusing to send it as restricted mail")
        township = path.stem.removesuffix(SUFFIX).replace("_", " ")
        body = (f"<p>抽查组：</p><p>附件为{month.label}电话抽查表（{township}），含被抽查户完整联系电话，"
                "属限定范围内部资料：仅限抽查组用于电话核实，不得转发、打印外传或上传公共平台，用后按规定销毁。</p>"
                f"<p>{settings().issuing_office}</p>")
        sent += send_report(f"call_sheet:{township_code}{path.suffix}", str(month), path, team,
                            subject=RESTRICTED_SUBJECT.format(label=month.label, township=township),
                            html_body=body, force=force, eng=_engine(eng), version=None,
                            ascii_name=f"call_sheet_{township_code}_{month}{path.suffix}")
    return sorted(set(sent))


def report_month(kind: str, period: str) -> str:
    """The delivery month a report reads."""
    from fangpin.periods import Quarter, Week

    if kind == "weekly":
        return str(Week.parse(period).month)
    if kind == "quarterly":
        return str(Quarter.parse(period).months[-1])
    return str(Month.parse(period))


def build_report(kind: str, period: str, out_dir: str, eng=None) -> str:
    """Builds a leaders' report PDF (as 更正版 N when its content changed after a version was sent).

    Raises fangpin.reports.common.NoReportData (one line, Chinese + English) when the period
    has no data to report on: the task fails, the failure alert goes out, no PDF is written."""
    from fangpin.reports import build_report as build

    eng = _engine(eng)
    with recorded(f"report:{kind}", period, eng) as detail:
        path = build(kind, period, Path(out_dir), eng=eng)
        detail["pdf"] = str(path)
    return str(path)


REPORT_SUBJECTS = {
    "weekly": "【周统计】{county}防返贫动态监测周统计（{label}）",
    "monthly": "【月通报】{county}防返贫动态监测工作月通报（{label}）",
    "quarterly": "【季调度】{county}防返贫动态监测季度调度会材料（{label}）",
}
KIND_NAMES = {"weekly": "周统计", "monthly": "工作月通报", "quarterly": "季度调度会材料"}


def _label(kind: str, period: str) -> str:
    from fangpin.periods import Quarter, Week

    return {"weekly": Week.parse, "quarterly": Quarter.parse}.get(kind, Month.parse)(period).label


def _pct(v) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def report_key_figures(kind: str, info: dict | None) -> list[tuple[str, str]]:
    """The key figures an email body quotes, from the version summary written beside the PDF."""
    if not info:
        return []
    f = info.get("summary", {}).get("figures", {})
    extra = info.get("summary", {}).get("extra", {})
    g = lambda k, unit="": "—" if f.get(k) is None else f"{f[k]:,}{unit}"  # noqa: E731
    if kind == "monthly":
        red_towns = extra.get("red_townships") or []
        return [
            ("推送核实户数", g("推送核实（户）", "户")),
            ("核实按期率", f"{_pct(f.get('核实及时率'))}（按期{g('按期核实（户）')}户、逾期核实{g('逾期核实（户）')}户、"
                        f"逾期未核实{g('逾期未核实（户）')}户、核实期内{g('核实期内（户）')}户）"),
            ("清单问题", f"{g('清单问题（个）', '个')}：红单{g('红单（个）')}、黄单{g('黄单（个）')}、蓝单{g('蓝单（个）')}"),
            ("红单乡镇", "、".join(red_towns) if red_towns else "无"),
            ("风险消除率", f"按户{_pct(f.get('风险消除率（按户）'))}、按人{_pct(f.get('风险消除率（按人）'))}"),
        ]
    if kind == "quarterly":
        months = sorted({k.split("@", 1)[1] for k in f if "@" in k}, key=lambda m: int(m.rstrip("月")))
        last = months[-1] if months else ""
        return [
            (f"{last}监测户", g(f"monitored@{last}", "户")),
            (f"{last}风险消除率（按户/按人）", f"{_pct(f.get(f'elimination_rate@{last}'))} / "
                                         f"{_pct(f.get(f'elimination_rate_persons@{last}'))}"),
            (f"{last}推送核实", g(f"pushed@{last}", "户")),
            (f"{last}红单/黄单/蓝单", f"{g(f'red@{last}')} / {g(f'yellow@{last}')} / {g(f'blue@{last}')}"),
        ]
    return [(k, "—" if v is None else (_pct(v) if isinstance(v, float) else f"{v:,}")) for k, v in list(f.items())[:8]]


def send_report(kind: str, period: str, pdf: str, force: bool = False, eng=None) -> list[str]:
    """Emails a leaders' report to settings().leaders: never twice for the same content unless
    forced; a report changed after it was sent goes again as 更正版 N (fangpin.notify)."""
    from fangpin.config import settings
    from fangpin.notify import send_report as send
    from fangpin.versions import read_meta

    s = settings()
    label = _label(kind, period)
    info = read_meta(Path(pdf))
    subject = REPORT_SUBJECTS[kind].format(county=s.county, label=label)
    body = (f"<p>各位领导：</p><p>现将{s.county}{label}防返贫动态监测{KIND_NAMES[kind]}报送如下，详见附件PDF。</p>"
            + (_html_figures("主要数字", report_key_figures(kind, info)) if info else "")
            + f"<p>{s.issuing_office}</p>")
    return send(kind, str(period), Path(pdf), list(s.leaders), subject=subject, html_body=body,
                force=force, eng=_engine(eng), version=info)


def write_township_problems(period: str, township_code: str, out_dir: str, eng=None) -> str | None:
    from fangpin.reports import build_township_problems

    path = build_township_problems(str(period), township_code, Path(out_dir), eng=_engine(eng))
    return str(path) if path else None


def send_township_problems(period: str, township_code: str, pdf: str | None, force: bool = False,
                           eng=None) -> list[str]:
    """Emails a township its problem list: township and month in the subject and the attachment
    name, counts by colour and the deadline in the body (更正版 N when it changed after sending)."""
    if not pdf:
        return []
    from fangpin.config import settings
    from fangpin.notify import send_report as send
    from fangpin.versions import read_meta

    to = settings().township_contact(township_code)
    if not to:
        return []
    from fangpin.reports.common import bulletin_date, rectification_days

    eng = _engine(eng)
    month = Month.parse(period)
    issued = bulletin_date(month)
    days = rectification_days(issued)
    info = read_meta(Path(pdf))
    summ = (info or {}).get("summary", {})
    name = summ.get("extra", {}).get("township_name") or _township_name(eng, period, township_code)
    deadline = issued + dt.timedelta(days=days)
    by = f"{deadline.month}月{deadline.day}日"
    f = summ.get("figures", {})
    counts = [(c, f"{f.get(f'{c}（个）', 0)}个") for c in ("红单", "黄单", "蓝单")]
    body = (f"<p>{name}：</p><p>附件为本乡镇{month.label}防返贫动态监测问题清单（{issued.month}月{issued.day}日通报），"
            f"请于{by}前完成整改并反馈整改情况；红单问题由挂点领导实地督导。</p>"
            + _html_figures("清单概况", [*counts, ("已销号", f"{f.get('已销号（个）', 0)}个"), ("整改期限", by)])
            + f"<p>{settings().issuing_office}</p>")
    return send(f"problems:{township_code}", str(period), Path(pdf), [to],
                subject=f"【问题清单】{name}{month.label}防返贫监测问题清单（请于{by}前整改）",
                html_body=body, force=force, eng=eng, version=info,
                ascii_name=f"problems_{township_code}_{month}.pdf")
