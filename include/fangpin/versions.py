"""Versions of the reports sent, and corrections (更正版).

A report (周统计、月通报、季调度, a township's problem list or push list) is identified by its
report key (`weekly`, `monthly`, `quarterly`, `problems:<乡镇代码>`, `push_list:<乡镇代码>`) and
its period. Each time its content is sent, one version is recorded in `report_versions`:

- version 1 is the original; version N+1 is 更正版 N, issued when a re-run (corrected data)
  changes the content after version N was sent;
- the content is compared on a fingerprint of the report's context (what the template shows,
  charts excluded), never on the PDF bytes (a PDF embeds its creation time);
- each version keeps a summary (the key figures and the problems listed, by township) and the
  list of changes from the previous version (printed in the 更正说明 and the email);
- each PDF sent is archived as `<folder of the PDF>/sent/<file name>.v<N>.pdf`.

Flow: the report builder calls `prepare()` (which tells the template whether this is a
correction and what changed) and writes `write_meta()` beside the PDF; `fangpin.notify`
reads it back when sending, sends a changed report again (to the same recipients as before),
never an unchanged one, and records the version with `record_version()`.

Read by the next month's stages: `sent_versions()`, `last_sent_problems()` and
`last_sent_problem_ids()` say what a township was actually sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path

from sqlalchemy import and_, select

META_SUFFIX = ".version.json"
EXCLUDED = ("charts", "correction")  # not content: SVG markup with generated ids; the correction itself

# the key figures kept with each version of a report, by report kind: (total key, Chinese label)
FIGURES = {
    "monthly": (
        ("households", "农户数（户）"), ("households_quarantined", "隔离户（户）"), ("monitored", "监测户（户）"),
        ("monitored_persons", "监测人口（人）"), ("new_entries", "本月新识别纳入（户）"),
        ("eliminated_in_month", "本月风险消除（户）"), ("elimination_rate", "风险消除率（按户）"),
        ("elimination_rate_persons", "风险消除率（按人）"), ("suspected", "比对疑似户（户）"),
        ("should_monitor", "高风险未纳入监测（户）"), ("pushed", "推送核实（户）"),
        ("verified_on_time", "按期核实（户）"), ("verified_late", "逾期核实（户）"), ("overdue", "逾期未核实（户）"),
        ("pending", "核实期内（户）"), ("verification_timeliness", "核实及时率"), ("spot_called", "电话抽查（户）"),
        ("spot_pass_rate", "抽查合格率"), ("problems_listed", "清单问题（个）"), ("problems_closed", "已整改（个）"),
        ("rectification_rate", "问题整改率"), ("should_monitor_listed", "应纳未纳问题（个）"),
        ("red", "红单（个）"), ("yellow", "黄单（个）"), ("blue", "蓝单（个）"),
    ),
    "weekly": (
        ("inspected_week", "本周入户排查（户）"), ("covered", "累计排查覆盖（户）"), ("coverage", "排查覆盖率"),
        ("pushed", "推送核实（户）"), ("verified", "已核实（户）"), ("overdue", "逾期未核实（户）"),
        ("pending", "核实期内（户）"), ("spot_called", "电话抽查（户）"), ("spot_passed", "抽查合格（户）"),
    ),
}


class StaleReport(RuntimeError):
    """A PDF built before a newer version of the same report was sent: rebuild it first."""


# ---- fingerprint, summary, changes -------------------------------------------------------------

def _plain(v):
    """A JSON-stable version of a context value (dates ISO, floats rounded, NaN -> None)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items() if k not in EXCLUDED}
    if isinstance(v, (list, tuple, set)):
        items = [_plain(x) for x in v]
        return sorted(items, key=json.dumps) if isinstance(v, set) else items
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else round(v, 6)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if v is None or isinstance(v, (str, int, bool)):
        return v
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError, ImportError):
        pass
    return str(v)


def fingerprint(ctx: dict) -> str:
    """SHA-256 of the report context's content (charts and the correction notice excluded)."""
    text = json.dumps(_plain(ctx), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _problem_rows(ctx: dict) -> list[dict]:
    if "problem_sections" in ctx:
        return [p for sec in ctx["problem_sections"] for p in sec["rows"]]
    if ctx.get("kind") == "problems":
        return list(ctx.get("rows", []))
    return []


def summary(kind: str, ctx: dict) -> dict:
    """What a version records: {"figures": {label: value}, "problems": {乡镇代码: {问题编号: colour
    or "已销号"}}, "extra": {...}} (JSON-serialisable; no ID or phone number)."""
    total = ctx.get("total") or {}
    figures: dict = {}
    for key, label in FIGURES.get(kind, ()):
        if key in total:
            figures[label] = _plain(total[key])
    if kind == "quarterly":
        for key, values in (ctx.get("county_series") or {}).items():
            for lab, v in zip(ctx.get("months", []), values):
                figures[f"{key}@{lab}"] = _plain(v)
    if kind == "problems":
        for colour, n in (ctx.get("counts") or {}).items():
            figures[f"{colour}（个）"] = int(n)
        figures["已销号（个）"] = int(ctx.get("closed_count", 0))
    if kind not in FIGURES and kind not in ("quarterly", "problems"):
        figures.update({k: _plain(v) for k, v in total.items() if isinstance(v, (int, float)) or v is None})
    problems: dict[str, dict[str, str]] = {}
    for p in _problem_rows(ctx):
        problems.setdefault(p["township_code"], {})[p["problem_id"]] = p.get("colour") or "已销号"
    extra = {}
    if kind == "problems":
        extra = {"township_name": ctx.get("township_name"), "deadline": _plain(ctx.get("deadline"))}
    if kind == "monthly":
        extra = {"red_townships": list(ctx.get("visit", {}).get("red", [])),
                 "ranking": {r["township_name"]: _plain(r.get("rank")) for r in ctx.get("ranked", [])}}
    return {"figures": figures, "problems": problems, "extra": extra}


def _fmt(v) -> str:
    """A figure in the 更正说明: rates (floats) as percentages, counts with separators."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v * 100:.1f}%" if 0 <= v <= 1 else f"{v:,.2f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _figure_label(label: str) -> str:
    from fangpin.reports.quarterly import SERIES_LABELS

    if "@" in label:
        key, month = label.split("@", 1)
        return f"{month}{SERIES_LABELS.get(key, key)}"
    return label


def changes(old: dict, new: dict, limit: int = 12) -> list[str]:
    """What differs between two summaries, as short Chinese lines for the 更正说明."""
    out = []
    of, nf = old.get("figures", {}), new.get("figures", {})
    for label in list(dict.fromkeys([*nf, *of])):
        if of.get(label) != nf.get(label):
            out.append(f"{_figure_label(label)}：{_fmt(of.get(label))} → {_fmt(nf.get(label))}")
    op = {pid: c for town in old.get("problems", {}).values() for pid, c in town.items()}
    np_ = {pid: c for town in new.get("problems", {}).values() for pid, c in town.items()}
    added, removed = sorted(set(np_) - set(op)), sorted(set(op) - set(np_))
    recoloured = sorted(p for p in set(op) & set(np_) if op[p] != np_[p])
    if added:
        out.append(f"新增问题{len(added)}个：{'、'.join(added[:5])}{'等' if len(added) > 5 else ''}")
    if removed:
        out.append(f"撤销问题{len(removed)}个：{'、'.join(removed[:5])}{'等' if len(removed) > 5 else ''}")
    if recoloured:
        out.append(f"清单颜色或状态变化{len(recoloured)}个：" + "、".join(f"{p}（{op[p]}→{np_[p]}）" for p in recoloured[:5])
                   + ("等" if len(recoloured) > 5 else ""))
    oe, ne = old.get("extra", {}), new.get("extra", {})
    if oe.get("red_townships") != ne.get("red_townships") and ne.get("red_townships") is not None:
        out.append(f"有红单问题的乡镇：{'、'.join(oe.get('red_townships') or ['无'])} → "
                   f"{'、'.join(ne.get('red_townships') or ['无'])}")
    if len(out) > limit:
        out = out[:limit] + [f"另有{len(out) - limit}处更正，详见正文"]
    return out or ["明细更正（户主、村、日期或说明文字），数字与清单条目未变"]


# ---- the versions table ---------------------------------------------------------------------

def _engine(eng):
    if eng is not None:
        return eng
    from fangpin.store import db

    return db.engine()


def sent_versions(report: str, period: str, eng=None) -> list[dict]:
    """Every version of (report, period) sent, oldest first: {version, correction (0 = original),
    fingerprint, summary, changes, attachment, archived, sha256, sent_at}."""
    from fangpin.store.models import ReportVersion

    t = ReportVersion.__table__
    with _engine(eng).connect() as conn:
        rows = conn.execute(select(t).where(and_(t.c.report == report, t.c.period == str(period)))
                            .order_by(t.c.version)).mappings().all()
    out = []
    for r in rows:
        d = dict(r)
        d.pop("id", None)
        for k in ("summary", "changes"):
            if isinstance(d[k], str):
                d[k] = json.loads(d[k])
        d["correction"] = d["version"] - 1
        out.append(d)
    return out


def last_sent(report: str, period: str, eng=None) -> dict | None:
    versions = sent_versions(report, period, eng)
    return versions[-1] if versions else None


def last_sent_problems(period: str, township: str | None = None, eng=None) -> dict[str, str] | None:
    """The problems the last version SENT for `period` listed: {问题编号: colour or 已销号}.

    With `township`: its own problem list (`problems:<code>`) when one was sent, else its
    section of the monthly bulletin; without: the bulletin's problems of every township.
    None when nothing was sent for the period (not the same as an empty list)."""
    eng = _engine(eng)
    if township:
        own = last_sent(f"problems:{township}", period, eng)
        if own is not None:
            return dict(own["summary"].get("problems", {}).get(township, {}))
    bulletin = last_sent("monthly", period, eng)
    if bulletin is None:
        return None
    probs = bulletin["summary"].get("problems", {})
    if township:
        return dict(probs.get(township, {}))
    return {pid: c for town in probs.values() for pid, c in town.items()}


def last_sent_problem_ids(period: str, township: str | None = None, eng=None) -> set[str] | None:
    """The 问题编号 of last_sent_problems() (None when nothing was sent for the period)."""
    sent = last_sent_problems(period, township, eng)
    return None if sent is None else set(sent)


def record_version(eng, report: str, period: str, info: dict, attachment: str, archived: str | None,
                   sha256: str) -> None:
    """Records a sent version (once; a retry of the same version changes nothing)."""
    from sqlalchemy.orm import Session

    from fangpin.store.models import ReportVersion

    t = ReportVersion.__table__
    with Session(eng) as s, s.begin():
        exists = s.execute(select(t.c.id).where(and_(t.c.report == report, t.c.period == str(period),
                                                     t.c.version == int(info["version"])))).first()
        if exists:
            return
        s.add(ReportVersion(report=report, period=str(period), version=int(info["version"]),
                            fingerprint=info["fingerprint"], summary=info.get("summary") or {},
                            changes=info.get("changes") or [], attachment=attachment, archived=archived,
                            sha256=sha256, sent_at=dt.datetime.now().replace(microsecond=0)))


# ---- what the builder does ------------------------------------------------------------------

def prepare(report: str, period: str, kind: str, ctx: dict, eng=None) -> dict:
    """The version a freshly built report would be sent as; sets ctx["correction"] for the template.

    Nothing sent yet → version 1. Same content as the last version sent → that version again
    (re-rendering it gives the document that was sent). Different → the next version, a
    correction, with the changes from the last version sent."""
    fp = fingerprint(ctx)
    summ = summary(kind, ctx)
    last = last_sent(report, str(period), eng)
    if last is None:
        version, diff = 1, []
    elif last["fingerprint"] == fp:
        version, diff = last["version"], list(last.get("changes") or [])
    else:
        version, diff = last["version"] + 1, changes(last["summary"], summ)
    ctx["correction"] = correction_notice(version, diff, last if last and version > last["version"] else None,
                                          sent_versions(report, str(period), eng) if version > 1 else [])
    return {"report": report, "period": str(period), "kind": kind, "version": version, "fingerprint": fp,
            "summary": summ, "changes": diff}


def correction_notice(version: int, diff: list[str], last: dict | None, sent: list[dict]) -> dict | None:
    """What the template prints for a correction (None for an original)."""
    if version <= 1:
        return None
    previous = [v for v in sent if v["version"] < version]
    return {"number": version - 1, "version": version, "changes": diff,
            "replaces": (f"更正版{version - 2}" if version > 2 else "原版"),
            "previous": [{"label": "原版" if v["version"] == 1 else f"更正版{v['version'] - 1}"} for v in previous]}


def versioned_name(name: str, version: int) -> str:
    """The file name of a version: unchanged for the original, `<stem>_更正版N<suffix>` after."""
    if version <= 1:
        return name
    p = Path(name)
    return f"{p.stem}_更正版{version - 1}{p.suffix}"


def versioned_ascii(name: str, version: int) -> str:
    if version <= 1:
        return name
    p = Path(name)
    return f"{p.stem}_correction{version - 1}{p.suffix}"


def meta_path(pdf: Path) -> Path:
    pdf = Path(pdf)
    return pdf.with_name(pdf.name + META_SUFFIX)


def write_meta(pdf: Path, info: dict) -> Path:
    """The version info beside the built PDF (read back by fangpin.notify when sending)."""
    path = meta_path(pdf)
    path.write_text(json.dumps(_plain(info), ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    return path


def read_meta(pdf: Path) -> dict | None:
    path = meta_path(pdf)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
