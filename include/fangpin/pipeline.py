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


@contextmanager
def recorded(stage: str, period: str, eng):
    """Records a PipelineRun row around a stage (status success/failed, timings, detail)."""
    from fangpin.store.models import PipelineRun
    from sqlalchemy.orm import Session

    with Session(eng, expire_on_commit=False) as s, s.begin():
        run = PipelineRun(stage=stage, period=str(period), started_at=dt.datetime.now(), status="running")
        s.add(run)
    detail: dict = {}
    try:
        yield detail
    except BaseException as exc:
        _finish(eng, run.id, "failed", {**detail, "error": type(exc).__name__})
        raise
    _finish(eng, run.id, "success", detail)


def _finish(eng, run_id, status, detail):
    from fangpin.store.models import PipelineRun
    from sqlalchemy.orm import Session

    with Session(eng) as s, s.begin():
        run = s.get(PipelineRun, run_id)
        run.status, run.finished_at = status, dt.datetime.now()
        run.detail = {k: v for k, v in detail.items() if isinstance(v, (str, int, float, bool, list, dict))}


def ingest(data_dir: Path, period: str | Month, out_dir: Path | None = None, eng=None,
           build_docs: bool = True, progress=None):
    """Validates a delivery (quarantine, summary, history, Data Docs) and loads its accepted rows."""
    from fangpin.load import load_delivery
    from fangpin.validate import validate_delivery

    eng = _engine(eng)
    month = Month.parse(str(period))
    with recorded("ingest", str(month), eng) as detail:
        validation = validate_delivery(Path(data_dir), month, out_dir=out_dir, eng=eng, build_docs=build_docs)
        detail["loaded"] = load_delivery(eng, validation, progress=progress)
        detail["rejected"] = validation.rejected
    return validation


def ingest_summary(data_dir: str, period: str, out_dir: str) -> dict:
    """ingest() for an Airflow task: a JSON-serialisable summary of the validation."""
    validation = ingest(Path(data_dir), period, out_dir=Path(out_dir))
    return {
        "period": str(validation.period),
        "rejected": list(validation.rejected),
        "data_docs": str(validation.data_docs) if validation.data_docs else None,
        "feeds": {n: {"status": o.status, "rows": o.rows_total, "accepted": o.rows_accepted,
                      "quarantined": o.rows_quarantined, "unmatched": o.rows_unmatched}
                  for n, o in validation.outcomes.items()},
    }


def screen_period(period: str, out_dir: str, push_lists: bool = False, eng=None) -> dict:
    """Screens the loaded period, stores the results and writes screening.csv (and push lists)."""
    from fangpin import screen

    eng = _engine(eng)
    with recorded("screen", period, eng) as detail:
        results = screen.screen(screen.load_frames(eng, str(period)), str(period))
        stored = screen.store_screening(eng, str(period), results)
        screen.write_screening_csv(stored, Path(out_dir))
        if push_lists:
            from fangpin.pushlists import write_push_lists

            write_push_lists(eng, str(period), Path(out_dir))
        detail["suspected"] = int(len(stored))
        detail["townships"] = sorted(stored["township_code"].unique().tolist()) if len(stored) else []
    return detail


def audit_period(period: str, out_dir: str, eng=None) -> dict:
    """Registry audit (A01–A12) of the loaded period: stores the results and writes audit.csv.
    The summary names the checks skipped because their optional households columns are absent."""
    from fangpin import audit

    eng = _engine(eng)
    with recorded("audit", period, eng) as detail:
        result = audit.audit(audit.load_frames(eng, str(period)), str(period))
        audit.store_audit(eng, result)
        audit.write_audit_csv(result, Path(out_dir))
        detail["flagged"] = int(len(result.flagged))
        detail["by_check"] = {c: int(n) for c, n in zip(result.checks["code"], result.checks["flagged"]) if n}
        detail["skipped"] = result.skipped
        detail["skipped_text"] = result.skipped_text()
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
