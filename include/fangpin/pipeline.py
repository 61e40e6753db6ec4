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

    eng = _engine(eng)
    month = Month.parse(str(period))
    if out_dir is not None:
        check_writable(Path(out_dir))
    with recorded("ingest", str(month), eng) as detail:
        validation = validate_delivery(Path(data_dir), month, out_dir=out_dir, eng=eng, build_docs=build_docs,
                                       store=False, write=False)
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


def screen_period(period: str, out_dir: str, push_lists: bool = False, eng=None) -> dict:
    """Screens the loaded period, stores the results and writes screening.csv (and push lists).

    When a feed the rules read was not delivered (or rejected, with nothing loaded), the result
    says so: detail["missing_feeds"], detail["rules_not_evaluated"] and detail["warning"] (one
    Chinese line, also logged and recorded in pipeline_runs); screening.csv is still written.
    """
    from fangpin import screen

    eng = _engine(eng)
    with recorded("screen", period, eng) as detail:
        missing = missing_feeds(str(period), eng)
        if missing:
            detail["missing_feeds"] = missing
            detail["rules_not_evaluated"] = [r for r, fs in RULE_FEEDS.items() if set(fs) & set(missing)]
            detail["warning"] = missing_feed_warning(str(period), missing)
            log.info("%s", detail["warning"])
        results = screen.screen(screen.load_frames(eng, str(period)), str(period))
        stored = screen.store_screening(eng, str(period), results)
        screen.write_screening_csv(stored, Path(out_dir))
        if push_lists:
            from fangpin.pushlists import write_push_lists

            write_push_lists(eng, str(period), Path(out_dir))
        detail["suspected"] = int(len(stored))
        detail["townships"] = sorted(stored["township_code"].unique().tolist()) if len(stored) else []
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


def send_push_list(period: str, township_code: str, path: str | None, force: bool = False, eng=None) -> list[str]:
    """Emails a township its push list (to the township's configured contact)."""
    if not path:
        return []
    from fangpin.config import settings
    from fangpin.notify import send_report

    to = settings().township_contact(township_code)
    if not to:
        return []
    from fangpin.screen import push_dates

    pushed_on, verify_by = push_dates(period, settings().province)
    days = (verify_by - pushed_on).days
    return send_report(f"push_list:{township_code}", str(period), Path(path), [to],
                       subject=f"【防返贫监测】{Month.parse(period).label}疑似风险户推送清单（请于{days}日内入户核实）",
                       html_body="<p>附件为本乡镇疑似返贫致贫风险户清单，请组织入户核实，并在核实截止日期前反馈核实结论。</p>",
                       force=force, eng=_engine(eng))


def derive_problems(period: str, eng=None) -> dict:
    from fangpin import problems

    eng = _engine(eng)
    with recorded("problems", period, eng) as detail:
        frame = problems.derive_problems(eng, str(period))
        detail["problems"] = int(len(frame))
        if len(frame):
            detail["by_type"] = {str(k): int(v) for k, v in frame["problem_type"].value_counts().items()}
    return detail


def sample_period(period: str, out_dir: str, seed: int | None = None, call_sheets: bool = False, eng=None) -> dict:
    from fangpin import sample

    eng = _engine(eng)
    with recorded("sample", period, eng) as detail:
        drawn = sample.run_sample(eng, str(period), Path(out_dir), seed=seed)
        if call_sheets:
            from fangpin.callsheets import write_call_sheets

            write_call_sheets(eng, str(period), Path(out_dir))
        detail["drawn"] = int(len(drawn))
        detail["townships"] = sorted(drawn["乡镇代码"].unique().tolist()) if len(drawn) else []
    return detail


def write_call_sheet(period: str, township_code: str, out_dir: str, eng=None) -> list[str]:
    from fangpin.callsheets import write_call_sheets

    return [str(p) for p in write_call_sheets(_engine(eng), str(period), Path(out_dir), townships=[township_code])]


def report_month(kind: str, period: str) -> str:
    """The delivery month a report reads."""
    from fangpin.periods import Quarter, Week

    if kind == "weekly":
        return str(Week.parse(period).month)
    if kind == "quarterly":
        return str(Quarter.parse(period).months[-1])
    return str(Month.parse(period))


def build_report(kind: str, period: str, out_dir: str, eng=None) -> str:
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


def _label(kind: str, period: str) -> str:
    from fangpin.periods import Quarter, Week

    return {"weekly": Week.parse, "quarterly": Quarter.parse}.get(kind, Month.parse)(period).label


def send_report(kind: str, period: str, pdf: str, force: bool = False, eng=None) -> list[str]:
    """Emails a leaders' report to settings().leaders (never twice for a period unless forced)."""
    from fangpin.config import settings
    from fangpin.notify import send_report as send

    s = settings()
    label = _label(kind, period)
    subject = REPORT_SUBJECTS[kind].format(county=s.county, label=label)
    body = (f"<p>各位领导：</p><p>现将{s.county}{label}防返贫动态监测{subject.split('】')[0][1:]}材料报送如下，"
            f"详见附件PDF。</p><p>{s.issuing_office}</p>")
    return send(kind, str(period), Path(pdf), list(s.leaders), subject=subject, html_body=body,
                force=force, eng=_engine(eng))


def write_township_problems(period: str, township_code: str, out_dir: str, eng=None) -> str | None:
    from fangpin.reports import build_township_problems

    path = build_township_problems(str(period), township_code, Path(out_dir), eng=_engine(eng))
    return str(path) if path else None


def send_township_problems(period: str, township_code: str, pdf: str | None, force: bool = False,
                           eng=None) -> list[str]:
    if not pdf:
        return []
    from fangpin.config import settings
    from fangpin.notify import send_report as send

    to = settings().township_contact(township_code)
    if not to:
        return []
    from fangpin.reports.common import bulletin_date, rectification_days

    month = Month.parse(period)
    days = rectification_days(bulletin_date(month))
    return send(f"problems:{township_code}", str(period), Path(pdf), [to],
                subject=f"【问题清单】{month.label}防返贫监测问题清单（请于{days}日内整改）",
                html_body="<p>附件为本乡镇本月防返贫动态监测问题清单，请于整改期限内完成整改并反馈整改情况。</p>",
                force=force, eng=_engine(eng))
