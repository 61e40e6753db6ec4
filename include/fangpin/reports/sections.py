"""Report sections of issue 15: the bulletin's 疑点数据 (registry audit) section, its 低保边缘 /
刚性支出型困难 figures and 抽查审核 paragraph, and the quarterly materials' 十三清 table.

Each function reads stored rows for one month and returns plain values for a template (no
frames). Nothing here reads or returns an ID or phone number: persons of the department feeds
are attributed to a township through `members` inside the function and only counts leave it.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, and_, select

from fangpin.periods import Month
from fangpin.reports.common import clean, query, ratio

DOUBTFUL = "疑点数据"


# ---- 疑点数据 (registry audit) -------------------------------------------------------------------

def audit_section(eng: Engine, month: Month, towns: pd.Series, pl: pd.DataFrame) -> dict:
    """The bulletin's 疑点数据 section for the month.

    `towns` is the bulletin's township code -> name, `pl` its problem list (common.problem_list as
    of the bulletin date). Returns {'ran', 'checks', 'rows', 'total', 'skipped'}:
    - checks: one per check A01–A12 (code, name, status 已核查 | 未核查 | 未运行, flagged households
      in the county, note naming why a check was skipped);
    - rows (per township) and total: flagged households (`flagged`), households per check
      (`by_check`, in the order of `checks`; None for a skipped check), and the 疑点数据 entries
      of the problem lists: `listed` = `new` (found this month) + `continued` (found earlier, open,
      flagged again this month) + `earlier` (found earlier and not flagged again: still open or
      rectified since the month began). `flagged` = `new` + `continued`: every household the audit
      flags this month is on its township's list exactly once as an open 疑点数据 problem.
    """
    from fangpin.audit import CHECKS, audit_counts, read_audit

    result = read_audit(eng, month)
    ran = not result.checks.empty
    stored = result.checks.set_index("code") if ran else pd.DataFrame()
    checks = []
    for code, k in sorted(CHECKS.items()):
        if ran and code in stored.index:
            r = stored.loc[code]
            status, note = r["status"], (r["note"] if isinstance(r["note"], str) else "")
        else:
            status, note = "未运行", ""
        checks.append({"code": code, "name": k.name, "status": status, "note": note, "flagged": 0})
    run_codes = [c["code"] for c in checks if c["status"] == "已核查"]

    counts = audit_counts(eng, month)
    per_check = (counts.pivot_table(index="township_code", columns="code", values="households", aggfunc="sum")
                 if len(counts) else pd.DataFrame())
    flagged = result.flagged
    flagged_n = flagged.groupby("township_code").size() if len(flagged) else pd.Series(dtype="int64")
    flagged_hh = set(flagged["household_id"])

    d = pl[pl["problem_type"] == DOUBTFUL]
    new = d["period"] == str(month)
    continued = ~new & (d["colour"] != "") & d["household_id"].isin(flagged_hh)
    listed = pd.DataFrame({"township_code": d["township_code"], "listed": 1, "new": new.astype(int),
                           "continued": continued.astype(int)}).groupby("township_code").sum()

    codes = sorted(set(towns.index) | set(flagged_n.index) | set(listed.index))
    rows = []
    for code in codes:
        by_check = [None if c["status"] != "已核查" else
                    int(per_check.at[code, c["code"]]) if (code in per_check.index and c["code"] in per_check
                                                          and pd.notna(per_check.at[code, c["code"]])) else 0
                    for c in checks]
        lst = listed.loc[code] if code in listed.index else None
        row = {"township_code": code, "township_name": towns.get(code, code),
               "flagged": int(flagged_n.get(code, 0)), "by_check": by_check,
               "listed": int(lst["listed"]) if lst is not None else 0,
               "new": int(lst["new"]) if lst is not None else 0,
               "continued": int(lst["continued"]) if lst is not None else 0}
        row["earlier"] = row["listed"] - row["new"] - row["continued"]
        rows.append(row)
    total = {k: sum(r[k] for r in rows) for k in ("flagged", "listed", "new", "continued", "earlier")}
    total["by_check"] = [None if c["status"] != "已核查" else sum(r["by_check"][i] for r in rows)
                         for i, c in enumerate(checks)]
    for c, n in zip(checks, total["by_check"]):
        c["flagged"] = n
    return {"ran": ran, "checks": checks, "rows": rows, "total": total, "run_codes": run_codes,
            "skipped": [c for c in checks if c["status"] == "未核查"]}


# ---- 低保边缘 / 刚性支出型困难 ---------------------------------------------------------------------

def policy_flag_rows(sr: pd.DataFrame, towns: pd.Series) -> dict:
    """Per township: households of the month's screening results flagged 低保边缘 (`dibao_edge`)
    and 刚性支出型困难 (`rigid_expense`), and how many of them are not yet monitored. `known` is
    False when no screening result carries a 低保边缘 value (the province has no 低保 standard)."""
    df = sr.reindex(columns=["township_code", "dibao_edge", "rigid_expense", "already_monitored"])
    known = bool(df["dibao_edge"].notna().any()) if len(df) else True
    edge = df["dibao_edge"].fillna(False).astype(bool)
    rigid = df["rigid_expense"].fillna(False).astype(bool)
    unmon = ~df["already_monitored"].fillna(False).astype(bool)
    g = pd.DataFrame({"township_code": df["township_code"], "dibao_edge": edge.astype(int),
                      "dibao_edge_unmonitored": (edge & unmon).astype(int), "rigid_expense": rigid.astype(int),
                      "rigid_expense_unmonitored": (rigid & unmon).astype(int)}).groupby("township_code").sum()
    keys = ("dibao_edge", "dibao_edge_unmonitored", "rigid_expense", "rigid_expense_unmonitored")
    rows = [{"township_code": c, "township_name": towns.get(c, c),
             **{k: int(g.at[c, k]) if c in g.index else 0 for k in keys}}
            for c in sorted(set(towns.index) | set(g.index))]
    return {"known": known, "rows": rows, "total": {k: sum(r[k] for r in rows) for k in keys}}


# ---- 抽查审核 (浚县-style sample review) ----------------------------------------------------------

def review_paragraph(eng: Engine, month: Month) -> dict:
    """The draw of the month's new 拟纳入 / 拟消除 decisions and its outcomes (fangpin.review), as
    known on the month's bulletin date: per decision households, drawn, share (抽查比例),
    reviewed, accurate, inaccurate, pending; plus the total. `drawn_any` is False when no draw was
    made for the month. The draw is made on the bulletin's day, so its results come with the next
    delivery: `previous` holds the previous month's draw with the results arrived since (None when
    that month had no draw)."""
    from fangpin.problems import bulletin_date

    issued = bulletin_date(month)
    out = _review_block(eng, month, issued)
    before = _review_block(eng, month.shift(-1), issued)
    out["previous"] = before if before["drawn_any"] else None
    return out


def _review_block(eng: Engine, period: Month, known_by) -> dict:
    """One draw's review figures (rows per decision, total, drawn_any, label) with the results
    arrived by `known_by`."""
    from fangpin.review import review_summary

    s = review_summary(eng, period, known_by=known_by)
    rows = [{k: clean(v) for k, v in r.items()} for r in s.to_dict("records")]
    keys = ("households", "drawn", "reviewed", "accurate", "inaccurate", "pending")
    total = {k: int(sum(r[k] for r in rows)) for k in keys}
    total["share"] = clean(ratio(total["drawn"], total["households"]))
    return {"rows": rows, "total": total, "drawn_any": total["drawn"] > 0, "label": period.label}


# ---- 十三清 (quarterly) -------------------------------------------------------------------------

# key, column label, source (department and feed), how it is counted
THIRTEEN = (
    ("working", "务工人数", "人社（employment）", "统计月份为本月、就业状态为务工或灵活就业的人数"),
    ("public_welfare", "公益性岗位", "人社（employment）", "统计月份为本月、就业状态为公益性岗位的人数"),
    ("unsafe_housing", "住房安全（C/D级危房户）", "住建（housing）", "最近一次鉴定为C级或D级的户数"),
    ("water", "饮水安全", "—", "数据契约未约定饮水安全数据项，未提供"),
    ("chronic", "慢性病人数", "卫健（health）", "确诊类别为慢性病的人数"),
    ("disabled", "残疾人数", "残联（disability）", "持残疾人证的人数"),
    ("dibao_tekun", "低保/特困", "民政（civil_affairs）", "救助类型为低保或特困、起始日期不晚于月末的人数"),
    ("in_school", "在校生", "教体（education）", "学籍状态为在读的人数"),
    ("dropout", "辍学", "教体（education）", "学籍状态为辍学的人数"),
    ("major_disease", "大病", "卫健（health）", "确诊类别为大病的人数"),
    ("monitored", "监测户", "全国防返贫监测信息系统（households）", "农户类别为监测户的户数"),
    ("lifted", "脱贫户", "全国防返贫监测信息系统（households）", "农户类别为脱贫户的户数"),
    ("eliminated", "风险消除", "全国防返贫监测信息系统（households）", "监测户中风险已消除的户数（累计）"),
)
THIRTEEN_FEEDS = {"working": "employment", "public_welfare": "employment", "unsafe_housing": "housing",
                  "water": None, "chronic": "health", "disabled": "disability", "dibao_tekun": "civil_affairs",
                  "in_school": "education", "dropout": "education", "major_disease": "health",
                  "monitored": "households", "lifted": "households", "eliminated": "households"}


def _delivered(eng: Engine, month: Month) -> set[str]:
    from fangpin.store.models import ValidationRun

    v = ValidationRun.__table__
    runs = query(eng, select(v.c.feed, v.c.status).where(and_(v.c.period == str(month), v.c.is_current.is_(True))))
    ok = runs[runs["status"].astype(str).isin(("通过", "有隔离"))]
    return set(ok["feed"])


def thirteen_clear(eng: Engine, month: Month, towns: pd.Series) -> dict:
    """十三清 for one month: per township the thirteen indicators (THIRTEEN) and a county total row
    (the sum of the townships). Persons are counted once per indicator (distinct persons of the
    registry's `members`; department rows of people outside the registry are not counted);
    households from `households`. An indicator whose feed was not delivered this month is None
    (printed "—", named in `not_delivered`); 饮水安全 has no feed in the data contract (None,
    named in `not_provided`)."""
    from fangpin import employment
    from fangpin.store.db import read_feed

    p = str(month)
    delivered = _delivered(eng, month)
    hh = read_feed(eng, "households", p, columns=["household_id", "township_code", "village_code", "category",
                                                  "risk_eliminated"])
    members = read_feed(eng, "members", p, columns=["id_number", "household_id"])
    hh = hh.drop_duplicates("household_id", keep="last")
    hh_town = hh.set_index("household_id")["township_code"]
    mem = members.drop_duplicates("id_number", keep="last")
    person_town = mem.set_index("id_number")["household_id"].map(hh_town).dropna()

    def persons(df: pd.DataFrame, keep=None) -> pd.Series:
        if keep is not None:
            df = df[keep(df)]
        ids = df["id_number"][df["id_number"].isin(person_town.index)].drop_duplicates()
        return ids.map(person_town).value_counts()

    per: dict[str, pd.Series] = {}
    if "employment" in delivered:
        # the registry frames read above, not a second read of the county's population
        e = employment.township_counts({"households": hh, "members": members,
                                        "employment": read_feed(eng, "employment", p,
                                                                columns=list(employment.READS["employment"]))},
                                       month).set_index("township_code")
        per["working"], per["public_welfare"] = e["working"], e["public_welfare"]
    if "housing" in delivered:
        h = read_feed(eng, "housing", p, columns=["household_id", "grade", "appraisal_date"])
        h = h[h["household_id"].isin(hh_town.index)].sort_values(["household_id", "appraisal_date"])
        h = h.drop_duplicates("household_id", keep="last")
        per["unsafe_housing"] = h[h["grade"].isin(("C", "D"))]["household_id"].map(hh_town).value_counts()
    if "health" in delivered:
        health = read_feed(eng, "health", p, columns=["id_number", "disease_class"])
        per["chronic"] = persons(health, lambda d: d["disease_class"] == "慢性病")
        per["major_disease"] = persons(health, lambda d: d["disease_class"] == "大病")
    if "disability" in delivered:
        per["disabled"] = persons(read_feed(eng, "disability", p, columns=["id_number"]))
    if "civil_affairs" in delivered:
        end = pd.Timestamp(month.end)
        civil = read_feed(eng, "civil_affairs", p, columns=["id_number", "assistance_type", "start_date"])
        per["dibao_tekun"] = persons(civil, lambda d: d["assistance_type"].isin(("低保", "特困"))
                                     & (d["start_date"] <= end))
    if "education" in delivered:
        education = read_feed(eng, "education", p, columns=["id_number", "status"])
        per["in_school"] = persons(education, lambda d: d["status"] == "在读")
        per["dropout"] = persons(education, lambda d: d["status"] == "辍学")
    monitored = hh["category"] == "监测户"
    per["monitored"] = hh[monitored]["township_code"].value_counts()
    per["lifted"] = hh[hh["category"] == "脱贫户"]["township_code"].value_counts()
    per["eliminated"] = hh[monitored & (hh["risk_eliminated"] == "是")]["township_code"].value_counts()

    keys = [k for k, *_ in THIRTEEN]
    codes = sorted(set(towns.index))
    rows = []
    for code in codes:
        row = {"township_code": code, "township_name": towns.get(code, code)}
        for k in keys:
            row[k] = int(per[k].get(code, 0)) if k in per else None
        rows.append(row)
    total = {k: (sum(r[k] for r in rows) if k in per else None) for k in keys}
    columns = [{"key": k, "label": label, "source": src, "definition": how,
                "delivered": k in per, "feed": THIRTEEN_FEEDS[k]} for k, label, src, how in THIRTEEN]
    not_delivered = [c for c in columns if not c["delivered"] and c["feed"]]
    not_provided = [c for c in columns if c["feed"] is None]
    return {"month": p, "month_label": month.label, "columns": columns, "rows": rows, "total": total,
            "not_delivered": not_delivered, "not_provided": not_provided}


# ---- 疑点数据 on a township's problem list --------------------------------------------------------

# what the township should check, per audit check (the plain words of docs/audit.md)
AUDIT_GUIDANCE = {
    "A01": "风险已标注消除，但家庭人均纯收入仍低于监测范围。请核实收入是否填错，或风险消除是否成立。",
    "A02": "纳入监测不满规定月数就标注风险消除，帮扶成效未经稳定期检验。请核实消除程序和时间。",
    "A03": "“是否已消除”与“消除时间”两项不一致，须补齐或更正其中一项。",
    "A04": "不是监测户却填了监测信息：要么农户类别填错（应为监测户），要么监测信息是残留数据，应清除。",
    "A05": "登记为“因病”风险，但医保、卫健数据里找不到住院自付或大病、慢性病记录。请核实风险类型，必要时补充佐证或更正。",
    "A06": "登记为“缺劳动力”，但家里劳动力超过四分之一，与风险类型不符。请核实劳动技能或风险类型。",
    "A07": "全家都没有劳动能力，却已标注风险消除：消除依据须重点核实（是否有兜底保障）。",
    "A08": "无劳动力的监测户没有纳入低保或特困供养，存在兜底保障缺口。请核实是否符合条件、是否应纳入兜底。",
    "A09": "未满16周岁的孩子被标成劳动力，劳动技能填写有误。请更正。",
    "A10": "家庭成员里没有户主或有多个户主，家庭关系登记有误。请更正。",
    "A11": "户主和配偶性别相同，多为身份证号或家庭关系录入错误。请核对。",
    "A12": "同一个电话登记在多户名下，电话回访打不到本人。请更新为农户本人或家人的电话。",
}


def audit_notes(rows: list[dict]) -> list[dict]:
    """The checks named by a list's 疑点数据 entries (their detail 'A01 …；A05 …'), each with its
    name and what the township should check: code, name, guidance, problems (entries naming it)."""
    import re

    from fangpin.audit import CHECKS

    seen: dict[str, int] = {}
    for r in rows:
        if r["problem_type"] == DOUBTFUL:
            for code in sorted(set(re.findall(r"\bA\d{2}\b", r["detail"] or ""))):
                seen[code] = seen.get(code, 0) + 1
    return [{"code": c, "name": CHECKS[c].name if c in CHECKS else c, "guidance": AUDIT_GUIDANCE.get(c, ""),
             "problems": n} for c, n in sorted(seen.items())]
