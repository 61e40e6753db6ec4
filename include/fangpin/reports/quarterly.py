"""季调度 — quarterly dispatch-meeting materials: the quarter's three months side by side per
township (trends, risk elimination, verification, spot checks, problems, ranking), townships
repeatedly on the red list, and the departments' data-sharing quality."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine

from fangpin import charts
from fangpin.config import settings
from fangpin.params import day_of_next_month, param
from fangpin.periods import Quarter
from fangpin.reports import common as C
from fangpin.reports import sections as S

KIND = "quarterly"
TEMPLATE = "quarterly.html"
TITLE = "防返贫动态监测季度调度会材料"
# per-township figures shown month by month
SERIES = ("monitored", "new_entries", "eliminated_in_month", "elimination_rate", "suspected", "pushed",
          "verification_timeliness", "spot_pass_rate", "problems_new", "problems_closed", "problems_overdue",
          "red", "score", "rank")


COUNTY_SERIES = ("households", "households_quarantined", "households_with_quarantined", "monitored",
                 "monitored_persons", "new_entries", "eliminated_in_month", "elimination_rate",
                 "elimination_rate_persons", "suspected", "pushed", "verified_on_time", "verified_late", "overdue",
                 "pending", "verification_timeliness", "spot_pass_rate", "problems_new", "problems_closed",
                 "problems_overdue", "red", "yellow", "blue")

SERIES_LABELS = {
    "households": "农户数（户）", "households_quarantined": "隔离户（户）", "households_with_quarantined": "农户数（含隔离）（户）",
    "monitored": "监测户（户）", "monitored_persons": "监测人口（人）", "new_entries": "新识别纳入（户）",
    "eliminated_in_month": "风险消除（户）", "elimination_rate": "风险消除率（按户）",
    "elimination_rate_persons": "风险消除率（按人）", "suspected": "比对疑似户（户）", "pushed": "推送核实（户）",
    "verified_on_time": "按期核实（户）", "verified_late": "逾期核实（户）", "overdue": "逾期未核实（户）",
    "pending": "核实期内（户）", "verification_timeliness": "核实及时率", "spot_pass_rate": "抽查合格率",
    "problems_new": "新发现问题（个）", "problems_closed": "已整改问题（个）", "problems_overdue": "逾期未整改（个）",
    "red": "红单（个）", "yellow": "黄单（个）", "blue": "蓝单（个）",
}
assert set(SERIES_LABELS) == set(COUNTY_SERIES)


def file_name(period: str | Quarter) -> str:
    return f"{settings().county}防返贫动态监测季度调度会材料_{Quarter.parse(str(period)).label}.pdf"


def ascii_name(period: str | Quarter) -> str:
    return f"quarterly_dispatch_{Quarter.parse(str(period))}.pdf"


def build_context(eng: Engine, period: str | Quarter) -> dict:
    quarter = Quarter.parse(str(period))
    s = settings()
    months = quarter.months
    # the quarter's last month must have been delivered (no materials from no data); an earlier
    # month without data (not yet running, or held) is shown as "—" and named, never as zeros
    C.require_data(eng, months[-1], "季度调度会材料", "quarterly materials")
    delivered = [C.has_data(eng, m) for m in months]
    figs = [C.month_figures(eng, m) if ok else None for m, ok in zip(months, delivered)]
    names: dict[str, str] = {}
    for f in figs:
        if f is not None:
            names.update(f["towns"].to_dict())
    codes = sorted(names)
    labels = [f"{m.month}月" for m in months]

    # township x month matrices
    def column(f, key):
        if f is None or key not in f["table"]:
            return pd.Series(index=codes, dtype="float64")
        return f["table"][key].reindex(codes)

    per = {key: pd.DataFrame({lab: column(f, key) for lab, f in zip(labels, figs)}, index=codes)
           for key in SERIES}
    rows = []
    for code in codes:
        row = {"township_code": code, "township_name": names[code]}
        for key in SERIES:
            row[key] = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in per[key].loc[code]]
        rows.append(row)

    totals = [f["total"] if f is not None else {} for f in figs]
    county = {key: [t.get(key) for t in totals] for key in COUNTY_SERIES}

    min_red = int(param("quarterly.repeated_red_months", quarter.end))
    red_months = (per["red"].fillna(0) > 0).sum(axis=1)
    repeated = [{"township_code": c, "township_name": names[c], "months": int(red_months[c]),
                 "red": [int(v) for v in per["red"].loc[c].fillna(0)]}
                for c in codes if red_months[c] >= min_red]
    repeated.sort(key=lambda r: (-r["months"], -sum(r["red"]), r["township_code"]))

    depts = [C.department_quality(eng, m) for m in months]
    dept_rows = []
    for i, d in enumerate(depts[0]):
        dept_rows.append({"feed": d["feed"], "department": d["department"], "label": d["label"],
                          "group": d["group"], "months": [dm[i] for dm in depts]})

    # 十三清: the quarter's last month (delivered, require_data above), per township + county total
    thirteen = S.thirteen_clear(eng, months[-1], figs[-1]["towns"])

    town_names = [names[c] for c in codes]
    chart_elim = charts.grouped_bars(town_names, {lab: list(per["elimination_rate"][lab]) for lab in labels},
                                     title="各乡镇风险消除率（按月）", pct=True)
    chart_problems = charts.lines(labels, {"新发现问题": county["problems_new"], "已整改": county["problems_closed"],
                                           "逾期未整改": county["problems_overdue"]}, title=f"{s.area_word}问题新增、整改与逾期")
    chart_rates = charts.lines(labels, {"风险消除率": county["elimination_rate"],
                                        "核实及时率": county["verification_timeliness"],
                                        "抽查合格率": county["spot_pass_rate"]}, title=f"{s.area_word}主要比率走势", pct=True)
    dept_feeds = [r for r in dept_rows if r["group"] == "部门"]
    chart_dept = charts.grouped_bars([r["label"] for r in dept_feeds],
                                     {lab: [r["months"][i]["quarantine_rate"] for r in dept_feeds]
                                      for i, lab in enumerate(labels)},
                                     title="行业部门数据隔离率（按月）", pct=True)
    return {
        "kind": KIND,
        "title": f"{s.county}{TITLE}",
        "period": str(quarter),
        "period_label": quarter.label,
        "issued_on": meeting_date(quarter),
        "county": s.county,
        "area": s.area_word,
        "issuing_office": s.issuing_office,
        "months": labels,
        "delivered": delivered,
        "month_labels": [m.label for m in months],
        "rows": rows,
        "county_series": county,
        "repeated_red": repeated,
        "repeated_red_min": min_red,
        "departments": dept_rows,
        "missing_months": [m.label for m, ok in zip(months, delivered) if not ok],
        "method": C.method_rows(figs[-1]["weights"]),
        "thirteen": thirteen,
        "charts": {"elimination": chart_elim, "problems": chart_problems, "rates": chart_rates,
                   "departments": chart_dept},
    }


def meeting_date(quarter) -> dt.date:
    """The dispatch meeting's date: day quarterly.meeting_day of the month after the quarter."""
    return day_of_next_month(quarter.months[-1], "quarterly.meeting_day")
