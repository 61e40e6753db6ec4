"""One township's problem list (问题清单) for the month: what the township must rectify within
the deadline, with the blue / yellow / red escalation. Names of household heads only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from fangpin.config import settings
from fangpin.periods import Month
from fangpin.reports import common as C
from fangpin.reports import sections as S

KIND = "problems"
TEMPLATE = "township_problems.html"


def file_name(period: str | Month, township_name: str) -> str:
    m = Month.parse(str(period))
    return f"{C.safe_name(township_name)}防返贫监测问题清单_{m.year}年{m.month}月.pdf"


def ascii_name(period: str | Month, township_code: str) -> str:
    return f"problems_{township_code}_{Month.parse(str(period))}.pdf"


def build_context(eng: Engine, period: str | Month, township_code: str) -> dict:
    month = Month.parse(str(period))
    s = settings()
    C.require_data(eng, month, "问题清单", "problem list")
    issued = C.bulletin_date(month)
    hh = C.households(eng, month, township_code)  # this township's only: one mapped task per township
    towns = C.townships(eng, month, hh)
    _, villages = C.region_names(eng, month)
    pl = C.problem_list(eng, month, issued, township_code=township_code)
    rows = C.decorate_problems(pl, hh, towns, villages)
    name = towns.get(township_code, township_code)
    counts = {c: sum(1 for r in rows if r["colour"] == c) for c in C.COLOURS}
    open_rows = [r for r in rows if r["colour"]]
    return {
        "kind": KIND,
        "title": f"{name}防返贫动态监测问题清单",
        "period": str(month),
        "period_label": month.label,
        "issued_on": issued,
        "county": s.county,
        "issuing_office": s.issuing_office,
        "township_code": township_code,
        "township_name": name,
        "rows": rows,
        "open_count": len(open_rows),
        "closed_count": len(rows) - len(open_rows),
        "counts": counts,
        "audit_notes": S.audit_notes(rows),
        "rectification_days": C.rectification_days(issued),
        "deadline": issued + dt.timedelta(days=C.rectification_days(issued)),
        "area": s.area_word,
        "escalation_rules": C.escalation_rules(issued),
        "restricted": "内部资料：含农户姓名，仅供本乡镇整改使用，不得张贴或外传",
    }
