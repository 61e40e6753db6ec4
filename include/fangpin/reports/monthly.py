"""月通报 — the monthly bulletin to the county leadership (致四家班子领导的一封信 + figures,
ranking, blue/yellow/red lists, problem lists per township, departments' data)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from fangpin import charts
from fangpin.config import settings
from fangpin.params import param
from fangpin.periods import Month
from fangpin.reports import common as C
from fangpin.reports import sections as S

KIND = "monthly"
TEMPLATE = "monthly.html"
TITLE = "防返贫动态监测工作月通报"


def file_name(period: str | Month) -> str:
    m = Month.parse(str(period))
    return f"{settings().county}防返贫动态监测月通报_{m.year}年{m.month}月.pdf"


def ascii_name(period: str | Month) -> str:
    return f"monthly_bulletin_{Month.parse(str(period))}.pdf"


def visit_townships(table, issued: dt.date) -> dict:
    """Townships the letter names for a leader's visit: the last `ranking.visit_bottom` by score,
    and every township with a red-list problem."""
    n = int(param("ranking.visit_bottom", issued))
    scored = table[table["score"].notna()].sort_values(["score", "township_name"], ascending=[True, True])
    bottom = list(scored["township_name"].head(n))
    red = list(table.loc[table["red"] > 0].sort_values("red", ascending=False)["township_name"])
    return {"bottom": bottom, "red": red, "all": list(dict.fromkeys(bottom + red))}


def _pct(v, none: str = "") -> str:
    """A rate in the letter: '45.1%', or '—' (with `none`, the reason, in brackets) when there is
    nothing to divide by."""
    if v is None or v != v:
        return f"—（{none}）" if none else "—"
    return f"{v * 100:.1f}%"


def letter(county: str, label: str, total: dict, visit: dict, rect_days: int, area: str | None = None,
           term: str = "监测对象", audit: dict | None = None, review: dict | None = None) -> list[str]:
    """The paragraphs of 致四家班子领导的一封信 (figures only; no personal data). Every figure is a
    county total of the tables and lists that follow (tests/test_reconcile.py checks it). `term`
    is the period's name for the monitored (terms.monitored_object); `audit` and `review` the
    sections.audit_section / sections.review_paragraph results (their paragraph is left out
    when None)."""
    t = total
    area = area or f"全{county[-1]}"
    quarantined = ""
    if t.get("households_quarantined"):
        quarantined = (f"本月农户数据{t['households_with_quarantined']:,}户（含隔离），其中{t['households_quarantined']:,}户"
                       "因数据校验未通过被隔离、暂未计入以下数字，已退回数据报送单位核改。")
    paras = [
        f"现将{county}{label}防返贫动态监测和帮扶工作情况报告如下。",
        f"一是监测帮扶。{area}现有监测户{t['monitored']:,}户{t.get('monitored_persons', 0):,}人（{term}），"
        f"本月新识别纳入{t['new_entries']:,}户，本月标注风险消除{t['eliminated_in_month']:,}户；"
        f"累计风险消除{t['eliminated_total']:,}户{t.get('eliminated_persons', 0):,}人，"
        f"风险消除率按户{_pct(t['elimination_rate'], '无监测户')}、按人{_pct(t.get('elimination_rate_persons'), '无监测户')}。"
        + quarantined,
        f"二是数据比对。本月行业部门数据比对筛查出疑似返贫致贫风险户{t['suspected']:,}户，其中新增疑似"
        f"{t['suspected_new']:,}户、高风险{t['suspected_high']:,}户，高风险且尚未纳入监测{t['should_monitor']:,}户。"
        f"本月推送乡镇核实{t['pushed']:,}户（已纳入监测的户不推送），其中按期核实{t['verified_on_time']:,}户、"
        f"逾期核实{t['verified_late']:,}户、逾期未核实{t['overdue']:,}户、尚在核实期内{t['pending']:,}户，"
        f"核实及时率{_pct(t['verification_timeliness'], '本月无推送户')}。",
        f"三是电话抽查。县数据核查小组本月电话抽查{t['spot_called']:,}户，接通{t['spot_answered']:,}户，"
        f"信息一致且帮扶落实{t['spot_passed']:,}户，合格率{_pct(t['spot_pass_rate'], '本月未抽查')}。",
        f"四是问题整改。本期清单共列问题{t['problems_listed']:,}个，其中本月新发现{t['problems_new']:,}个，"
        f"“应纳未纳”问题{t.get('should_monitor_listed', 0):,}个；已整改{t['problems_closed']:,}个，"
        f"问题整改率{_pct(t['rectification_rate'], '无到期问题')}；"
        f"红单{t['red']:,}个、黄单{t['yellow']:,}个、蓝单{t['blue']:,}个。各乡镇须在通报后{rect_days}日内整改到位。",
    ]
    if audit is not None and audit["ran"]:
        a = audit["total"]
        paras.append(f"五是疑点数据核查。本月对监测信息系统数据开展疑点核查，发现疑点户{a['flagged']:,}户，"
                     f"均已列入所在乡镇问题清单；清单共列“疑点数据”问题{a['listed']:,}个，其中本月新发现{a['new']:,}个。"
                     + (f"因数据项未提供，{'、'.join(c['code'] for c in audit['skipped'])}项未核查。" if audit["skipped"] else ""))
    if review is not None and (review["drawn_any"] or review.get("previous")):
        text = "六是抽查审核。"
        if review["drawn_any"]:
            r = review["total"]
            text += (f"对本月新识别纳入、新标注风险消除的{term}认定抽取{r['drawn']:,}户开展县级审核"
                     f"（抽查比例{_pct(r['share'])}），已审核{r['reviewed']:,}户，其中认定准确{r['accurate']:,}户、"
                     f"认定不准确{r['inaccurate']:,}户，待审核{r['pending']:,}户。")
        if review.get("previous"):
            r = review["previous"]["total"]
            text += (f"{review['previous']['label']}抽取的{r['drawn']:,}户已审核{r['reviewed']:,}户，"
                     f"认定不准确{r['inaccurate']:,}户。")
        paras.append(text)
    ask = []
    if visit["bottom"]:
        ask.append(f"综合排名靠后的{'、'.join(visit['bottom'])}")
    if visit["red"]:
        ask.append(f"有红单问题的{'、'.join(visit['red'])}")
    if ask:
        paras.append(f"恳请各位领导对照附后的各乡镇问题清单，重点到{'，以及'.join(ask)}实地督导，"
                     "推动问题按期整改销号。")
    else:
        paras.append("本月各乡镇均无红单问题。恳请各位领导对照附后的各乡镇问题清单，到所挂乡镇督导落实。")
    return paras


def build_context(eng: Engine, period: str | Month) -> dict:
    month = Month.parse(str(period))
    s = settings()
    C.require_data(eng, month, "月通报", "monthly bulletin")
    issued = C.bulletin_date(month)
    mf = C.month_figures(eng, month)
    table, total = mf["table"], mf["total"]
    rect_days = C.rectification_days(issued)
    visit = visit_townships(table, issued)
    term = str(param("terms.monitored_object", month.end))
    audit = S.audit_section(eng, month, mf["towns"], mf["problems"])
    flags = S.policy_flag_rows(mf["screening"], mf["towns"])
    review = S.review_paragraph(eng, month)
    rows = C.records(table)
    problems = C.decorate_problems(mf["problems"], mf["households"], mf["towns"], mf["villages"])
    by_town = {}
    for p in problems:
        by_town.setdefault(p["township_code"], []).append(p)
    problem_sections = [{"code": code, "name": mf["towns"].get(code, code), "rows": by_town[code],
                         "counts": {c: sum(1 for p in by_town[code] if p["colour"] == c) for c in C.COLOURS}}
                        for code in mf["towns"].index if code in by_town]
    escalated = [p for p in problems if p["colour"] in (C.RED, C.YELLOW)]
    escalated.sort(key=lambda p: (p["colour"] != C.RED, p["township_code"], p["problem_id"]))
    by_name = table.sort_values("township_code")
    ranked = table.sort_values(["rank", "township_code"])
    chart_rank = charts.hbar(list(ranked["township_name"]), list(ranked["score"] / 100), pct=True,
                             title="乡镇综合得分", highlight=visit["all"])
    chart_elim = charts.hbar(list(by_name["township_name"]), list(by_name["elimination_rate"]), pct=True,
                             title="各乡镇风险消除率（按户）", reference=total["elimination_rate"],
                             reference_label=s.area_word)
    chart_lists = charts.stacked_lists(list(by_name["township_name"]), list(by_name["blue"]),
                                       list(by_name["yellow"]), list(by_name["red"]), title="各乡镇蓝黄红三单")
    return {
        "kind": KIND,
        "title": f"{s.county}{TITLE}",
        "period": str(month),
        "period_label": month.label,
        "issued_on": issued,
        "as_of": month.end,
        "county": s.county,
        "issuing_office": s.issuing_office,
        "area": s.area_word,
        "letter": letter(s.county, month.label, total, visit, rect_days, s.area_word, term, audit, review),
        "term": term,
        "audit": audit,
        "policy_flags": flags,
        "review": review,
        "review_share_param": float(param("review.sample_share", month.end)),
        "visit": visit,
        "rows": rows,
        "ranked": C.records(ranked),
        "total": total,
        "method": C.method_rows(mf["weights"]),
        "incomplete": [r for r in C.records(ranked) if r["missing_count"]],
        "escalation_rules": C.escalation_rules(issued),
        "rectification_days": rect_days,
        "verification_days": int(param("problems.verification_days", month.end)),
        "problem_sections": problem_sections,
        "escalated": escalated,
        "departments": C.department_quality(eng, month),
        "charts": {"rank": chart_rank, "elimination": chart_elim, "lists": chart_lists},
    }
