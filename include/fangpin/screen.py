"""Data-comparison screening (数据比对筛查): rules R01–R13 over a period's accepted rows.

Data contract section 2 defines the rules; this module implements them as a registry: one
small vectorised function per rule code, registered with its code, Chinese name and the
template of its explanation (说明). `screen()` is pure: typed frames in, one row per suspected
household out. Every threshold is a dated parameter (parameters.yaml) read for the period's
last day, so a threshold that changes on a date applies the value in force for the period.

Population: households = the accepted households of the period; members = accepted members
whose household is an accepted household; a household's *size* is its number of such members
(not the declared 家庭人口数). A household with no accepted member is not judged by the
member-based rules (R06–R09): there is nothing to count. Department rows reach a household
through the members' 身份证号; rows matching no member are ignored (validation counts them).

See docs/screen.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, select

from fangpin import feeds as F
from fangpin.params import day_of_next_month, param
from fangpin.periods import Month

log = logging.getLogger(__name__)

# Feeds the screening reads (data contract section 2).
SCREEN_FEEDS = ("households", "members", "medical", "disability", "civil_affairs", "education", "housing", "health",
                "employment")
RISK_LEVELS = ("高", "中", "低")
NEW, CONTINUING = "新增疑似", "持续疑似"
OUTPUT_COLUMNS = ["household_id", "township_code", "village_code", "rules", "risk_level", "already_monitored",
                  "explanation", "head_name", "category", "dibao_edge", "rigid_expense"]
# screening.csv: the contract's headers (exact order), then extras.
CSV_NAME = "screening.csv"
CSV_COLUMNS = {"household_id": "户编号", "township_code": "乡镇代码", "village_code": "村代码", "rules": "命中规则",
               "risk_level": "风险等级", "already_monitored": "是否已纳入监测", "explanation": "说明"}
CSV_EXTRAS = {"status": "疑似状态", "first_seen": "首次发现", "category": "农户类别", "pushed_on": "推送日期",
              "verify_by": "核实截止日期", "dibao_edge": "低保边缘", "rigid_expense": "刚性支出型困难"}
FLAG_COLUMNS = ("dibao_edge", "rigid_expense")  # 2026 policy categories: flags, not rules (no risk level)
CLAUSE_SEP, RULE_SEP = "；", ";"
_EPS = 1e-6  # yuan / ratio tolerance for float noise in >= comparisons (money has 2 decimals)


# ---- formatting ---------------------------------------------------------------------------

def yuan(values) -> list[str]:
    """6320 -> '6,320'; 6999.99 -> '6,999.99' (figures in explanations)."""
    return [f"{v:,.2f}".removesuffix(".00") for v in np.asarray(values, dtype="float64")]


def _yuan1(v: float) -> str:
    return yuan([v])[0]


def pct(values) -> list[str]:
    """0.3 -> '30%', 0.2999 -> '29.99%'."""
    return [f"{v * 100:.2f}".rstrip("0").rstrip(".") + "%" for v in np.asarray(values, dtype="float64")]


def _day(values) -> list[str]:
    return pd.to_datetime(pd.Series(values)).dt.strftime("%Y-%m-%d").tolist()


# ---- context: the prepared frames a rule reads ---------------------------------------------

def _empty(feed: str) -> pd.DataFrame:
    cols = F.feed(feed).names + (["township_code"] if feed == "households" else [])
    out = pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    for c in F.feed(feed).columns:
        if c.kind == F.DATE:
            out[c.name] = pd.Series(dtype="datetime64[ns]")
        elif c.kind == F.MONEY:
            out[c.name] = pd.Series(dtype="float64")
    return out


@dataclass
class Context:
    """What every rule sees: the period, its parameters, households with per-household counts,
    and each department feed already joined to household_id (unmatched rows dropped)."""

    month: Month
    province: str | None
    hh: pd.DataFrame                   # index household_id; category, income, last_income, size, laborers, students
    members: pd.DataFrame              # id_number, household_id, labor_skill
    dept: dict[str, pd.DataFrame]      # feed -> rows with household_id

    def p(self, name: str):
        return param(name, self.month.end, self.province)

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.month.start)

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.month.end)

    def in_period(self, dates: pd.Series) -> pd.Series:
        return (dates >= self.start) & (dates <= self.end)

    def year_to_date(self, dates: pd.Series) -> pd.Series:
        return (dates >= pd.Timestamp(self.month.year_start)) & (dates <= self.end)

    def months_back(self, months: int) -> pd.Timestamp:
        """First day of the window of `months` calendar months ending with the period's month."""
        return pd.Timestamp(self.month.shift(-(months - 1)).start)

    def in_window(self, dates: pd.Series, months: int) -> pd.Series:
        return (dates >= self.months_back(months)) & (dates <= self.end)


def prepare(frames: dict[str, pd.DataFrame], month: Month, province: str | None = None) -> Context:
    get = {name: frames.get(name) if frames.get(name) is not None else _empty(name) for name in SCREEN_FEEDS}
    households = get["households"].drop_duplicates("household_id", keep="last")
    hh = households.set_index("household_id")
    if "township_code" not in hh or hh["township_code"].isna().any():
        hh["township_code"] = hh["village_code"].astype(str).str[:9]
    for c in ("income", "last_income"):
        hh[c] = pd.to_numeric(hh[c], errors="coerce").astype("float64")

    # Integer positions instead of string group keys: Xingbin has 911,000 members.
    members = get["members"][["id_number", "household_id", "labor_skill"]]
    pos = hh.index.get_indexer(members["household_id"])
    members = members[pos >= 0].drop_duplicates("id_number", keep="last")
    pos = hh.index.get_indexer(members["household_id"])
    n = len(hh)
    hh["size"] = np.bincount(pos, minlength=n).astype("int64")
    hh["laborers"] = np.bincount(pos, weights=members["labor_skill"].isin(F.LABORER_SKILLS).to_numpy(),
                                 minlength=n).astype("int64")

    person = pd.Index(members["id_number"])
    dept: dict[str, pd.DataFrame] = {}
    for name in ("medical", "disability", "civil_affairs", "education", "health", "employment"):
        df = get[name]
        at = person.get_indexer(df["id_number"])
        df = df[at >= 0]
        dept[name] = df.assign(household_id=members["household_id"].to_numpy()[at[at >= 0]])
    housing = get["housing"]
    dept["housing"] = housing[hh.index.get_indexer(housing["household_id"]) >= 0]

    edu = dept["education"]
    students = edu[edu["status"] == "在读"].drop_duplicates("id_number")
    hh["students"] = np.bincount(hh.index.get_indexer(students["household_id"]), minlength=n).astype("int64")
    return Context(month, province, hh, members, dept)


# ---- the rules registry ----------------------------------------------------------------------

RuleFunc = Callable[[Context], pd.DataFrame]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    template: str      # str.format template over the columns the function returns
    func: RuleFunc     # -> one row per hit household (index household_id), columns = template fields

    def explain(self, hits: pd.DataFrame) -> pd.Series:
        cols = list(hits.columns)
        fmt = f"{self.code} {self.template}".format_map
        texts = [fmt(dict(zip(cols, row))) for row in zip(*(hits[c].tolist() for c in cols))]
        return pd.Series(texts, index=hits.index, dtype="object")


RULES: dict[str, Rule] = {}


def rule(code: str, name: str, template: str):
    def register(fn: RuleFunc) -> RuleFunc:
        RULES[code] = Rule(code, name, template, fn)
        return fn
    return register


def _fields(index, **columns) -> pd.DataFrame:
    return pd.DataFrame(columns, index=index)


def join_groups(keys, values, sep: str) -> pd.Series:
    """One string per key: `values` joined in order. `keys` must be sorted (groups contiguous);
    a plain loop over slices, far faster than a groupby with a Python aggregation."""
    keys = np.asarray(keys, dtype=object)
    if len(keys) == 0:
        return pd.Series([], index=pd.Index([], dtype="object"), dtype="object")
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    vals = [str(v) for v in values]
    return pd.Series([sep.join(vals[a:b]) for a, b in zip(starts, ends)], index=keys[starts], dtype="object")


def _joined(df: pd.DataFrame, text: pd.Series, sep: str = "、") -> pd.Series:
    """One string per household: the `text` of its rows joined (rows sorted by household)."""
    return join_groups(df["household_id"].to_numpy(), text.tolist(), sep)


@rule("R01", "人均纯收入低于监测范围", "人均纯收入 {income} 元 < 监测范围 {T} 元")
def r01(ctx: Context) -> pd.DataFrame:
    t = float(ctx.p("screening.monitoring_threshold"))
    hit = ctx.hh[ctx.hh["income"] < t]
    return _fields(hit.index, income=yuan(hit["income"]), T=_yuan1(t))


@rule("R02", "收入骤减", "人均纯收入 {income} 元较上年 {last} 元下降 {drop} ≥ {ratio}")
def r02(ctx: Context) -> pd.DataFrame:
    ratio = float(ctx.p("screening.income_drop_ratio"))
    h = ctx.hh
    drop = h["last_income"] - h["income"]
    hit = h[(h["last_income"] > 0) & (drop >= ratio * h["last_income"] - _EPS)]
    share = ((hit["last_income"] - hit["income"]) / hit["last_income"]).round(6)
    return _fields(hit.index, income=yuan(hit["income"]), last=yuan(hit["last_income"]), drop=pct(share),
                   ratio=pct([ratio])[0])


@rule("R03", "新增重度残疾", "新增重度残疾：{items}")
def r03(ctx: Context) -> pd.DataFrame:
    grades = list(ctx.p("screening.severe_disability_grades"))
    grade3_types = list(ctx.p("screening.severe_disability_grade3_types"))
    d = ctx.dept["disability"]
    severe = d["disability_grade"].isin(grades) | (
        (d["disability_grade"] == F.DISABILITY_GRADES[2]) & d["disability_type"].isin(grade3_types))
    d = d[ctx.in_period(d["issue_date"]) & severe].sort_values(["household_id", "issue_date", "disability_grade"])
    text = d["disability_grade"] + d["disability_type"] + "残疾（" + pd.Series(_day(d["issue_date"]), index=d.index) + " 发证）"
    items = _joined(d, text)
    return _fields(items.index, items=items)


@rule("R04", "新增低保特困孤儿", "新增{items}")
def r04(ctx: Context) -> pd.DataFrame:
    c = ctx.dept["civil_affairs"]
    c = c[ctx.in_period(c["start_date"]) & c["assistance_type"].isin(F.ASSISTANCE_TYPES)]
    c = c.sort_values(["household_id", "start_date", "assistance_type"])
    text = c["assistance_type"] + "（" + pd.Series(_day(c["start_date"]), index=c.index) + " 起）"
    items = _joined(c, text)
    return _fields(items.index, items=items)


def _oop_by_member(ctx: Context) -> pd.DataFrame:
    """Year-to-date inpatient 个人自付 per member (settlements dated by 出院日期), rounded to cents."""
    m = ctx.dept["medical"]
    m = m[ctx.year_to_date(m["discharge_date"])]
    per = m.groupby(["household_id", "id_number"], sort=False)["out_of_pocket"].sum().round(2)
    return per.reset_index()


@rule("R05", "住院自付费用高", "住院自付 {oop} 元 ≥ {threshold} 元（{category}）")
def r05(ctx: Context) -> pd.DataFrame:
    per = _oop_by_member(ctx)
    top = per.groupby("household_id")["out_of_pocket"].max()
    h = ctx.hh.loc[ctx.hh.index.intersection(top.index)]
    registered = float(ctx.p("screening.oop_threshold_registered"))
    general = float(ctx.p("screening.oop_threshold_general"))
    threshold = pd.Series(np.where(h["category"] == F.CAT_GENERAL, general, registered), index=h.index)
    oop = top.reindex(h.index)
    hit = oop >= threshold - _EPS
    h = h[hit]
    return _fields(h.index, oop=yuan(oop[hit]), threshold=yuan(threshold[hit]), category=h["category"])


@rule("R06", "整户无劳动力", "整户 {size} 人均为丧失劳动力或无劳动力")
def r06(ctx: Context) -> pd.DataFrame:
    h = ctx.hh
    hit = h[(h["size"] > 0) & (h["laborers"] == 0)]
    return _fields(hit.index, size=hit["size"])


@rule("R07", "五人以上仅一个劳动力", "家庭 {size} 人（≥ {min_size} 人）仅 1 个劳动力")
def r07(ctx: Context) -> pd.DataFrame:
    n = int(ctx.p("screening.large_household_size"))
    h = ctx.hh
    hit = h[(h["size"] >= n) & (h["laborers"] == 1)]
    return _fields(hit.index, size=hit["size"], min_size=n)


@rule("R08", "五人以上在校生占比70%以上", "家庭 {size} 人中在校生 {students} 人，占比 {share} ≥ {ratio}")
def r08(ctx: Context) -> pd.DataFrame:
    n = int(ctx.p("screening.large_household_size"))
    ratio = float(ctx.p("screening.student_ratio"))
    h = ctx.hh
    hit = h[(h["size"] >= n) & (h["students"] >= ratio * h["size"] - _EPS)]
    return _fields(hit.index, size=hit["size"], students=hit["students"],
                   share=pct((hit["students"] / hit["size"]).round(4)), ratio=pct([ratio])[0])


@rule("R09", "扣除医疗费用后人均纯收入低于监测范围",
      "人均纯收入 {income} 元，扣除年内住院自付 {oop} 元后人均 {net} 元 < 监测范围 {T} 元")
def r09(ctx: Context) -> pd.DataFrame:
    t = float(ctx.p("screening.monitoring_threshold"))
    oop = _oop_by_member(ctx).groupby("household_id")["out_of_pocket"].sum().round(2)
    h = ctx.hh[ctx.hh["size"] > 0]
    spent = oop.reindex(h.index, fill_value=0.0)
    net_total = (h["income"] * h["size"] - spent).round(2)
    hit = (h["income"] >= t) & (net_total < t * h["size"] - _EPS)
    h, spent, net_total = h[hit], spent[hit], net_total[hit]
    net = np.floor(net_total / h["size"] * 100 + 1e-9) / 100  # shown rounded down: never displays as T
    return _fields(h.index, income=yuan(h["income"]), oop=yuan(spent), net=yuan(net), T=_yuan1(t))


@rule("R10", "住房安全", "最新住房安全鉴定为 {grade} 级（{date}）")
def r10(ctx: Context) -> pd.DataFrame:
    unsafe = list(ctx.p("screening.unsafe_housing_grades"))
    a = ctx.dept["housing"]
    a = a[a["appraisal_date"] <= ctx.end]
    # The latest appraisal wins; two on the same latest day: the worse grade (D > C > B > A).
    latest = a.sort_values(["household_id", "appraisal_date", "grade"]).drop_duplicates("household_id", keep="last")
    hit = latest[latest["grade"].isin(unsafe)].set_index("household_id")
    return _fields(hit.index, grade=hit["grade"], date=_day(hit["appraisal_date"]))


@rule("R11", "义务教育阶段辍学", "义务教育阶段辍学 {n} 人（{stages}）")
def r11(ctx: Context) -> pd.DataFrame:
    stages = list(ctx.p("screening.compulsory_education_stages"))
    e = ctx.dept["education"]
    e = e[e["stage"].isin(stages) & (e["status"] == "辍学")].sort_values(["household_id", "stage"])
    n = e.groupby("household_id", sort=False).size()
    stages = e.drop_duplicates(["household_id", "stage"])
    return _fields(n.index, n=n, stages=_joined(stages, stages["stage"]).reindex(n.index))


@rule("R12", "新确诊大病", "本期新确诊大病 {n} 人（{dates} 确诊）")
def r12(ctx: Context) -> pd.DataFrame:
    d = ctx.dept["health"]
    d = d[ctx.in_period(d["diagnosis_date"]) & (d["disease_class"] == "大病")]
    d = d.sort_values(["household_id", "diagnosis_date"])
    g = d.groupby("household_id", sort=False)
    n = g["id_number"].nunique()
    dates = _joined(d, pd.Series(_day(d["diagnosis_date"]), index=d.index, dtype="object"))
    return _fields(n.index, n=n, dates=dates.reindex(n.index))


def _work_months(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    """The 人社 rows of 统计月份 = the period's month and = the month before (see docs/screen.md)."""
    e = ctx.dept["employment"]
    cur, prev = str(ctx.month), str(ctx.month.shift(-1))
    return e[e["stat_month"] == cur], e[e["stat_month"] == prev], cur, prev


@rule("R13", "务工就业不稳", "{what}")
def r13(ctx: Context) -> pd.DataFrame:
    now, before, cur, prev = _work_months(ctx)
    if now.empty or before.empty:  # the 人社 data do not cover both months: nothing to compare
        return _fields(pd.Index([], dtype="object"), what=[])
    ratio = float(ctx.p("screening.work_income_drop_ratio"))
    w_prev = before.groupby("household_id")["monthly_wage"].sum().round(2)
    w_prev = w_prev[w_prev > 0]
    w_now = now.groupby("household_id")["monthly_wage"].sum().round(2).reindex(w_prev.index, fill_value=0.0)
    fell = w_prev - w_now >= ratio * w_prev - _EPS
    drop = pd.Series([f"家庭成员务工工资 {prev} 月 {a} 元、{cur} 月 {b} 元，下降 {c} ≥ {pct([ratio])[0]}"
                      for a, b, c in zip(yuan(w_prev[fell]), yuan(w_now[fell]),
                                         pct(((w_prev[fell] - w_now[fell]) / w_prev[fell]).round(4)))],
                     index=w_prev.index[fell], dtype="object")

    # the only laborer became 失业: 失业 this month (every row of the month), working the month before
    only = ctx.hh.index[ctx.hh["laborers"] == 1]
    lab = ctx.members[ctx.members["household_id"].isin(only) & ctx.members["labor_skill"].isin(F.LABORER_SKILLS)]
    jobless_now = (now["employment_status"] == F.UNEMPLOYED).groupby(now["id_number"]).all()
    worked = before[before["employment_status"] != F.UNEMPLOYED].drop_duplicates("id_number")
    worked = worked.set_index("id_number")["employment_status"]
    became = lab[lab["id_number"].map(jobless_now).fillna(False).astype(bool) & lab["id_number"].isin(worked.index)]
    lost = pd.Series([f"唯一劳动力 {prev} 月{worked[i]}、{cur} 月失业" for i in became["id_number"]],
                     index=pd.Index(became["household_id"]), dtype="object")
    lost = lost[~lost.index.duplicated()]

    what = pd.concat([drop, lost]).groupby(level=0, sort=True).agg("，".join)
    return _fields(what.index, what=what)


# ---- 2026 policy categories: flags in the screening output ---------------------------------------

def policy_flags(ctx: Context) -> pd.DataFrame:
    """Per household (index household_id): dibao_edge — 低保边缘, 人均纯收入 below
    policy.dibao_edge_multiplier × the province's 低保 standard (None where the province has no
    standard in parameters.yaml); rigid_expense — 刚性支出型困难, the household's inpatient 个人自付
    over the last policy.rigid_expense_months months above policy.rigid_expense_ratio × its yearly
    income (人均纯收入 × size). Flags, not rules: they change no hit and no risk level."""
    from fangpin.params import ParameterError

    h = ctx.hh
    try:
        edge = float(ctx.p("policy.dibao_edge_multiplier")) * float(ctx.p("policy.dibao_standard"))
        dibao = pd.Series(h["income"] < edge - _EPS, index=h.index, dtype="object")
    except ParameterError as exc:
        log.warning("低保边缘 not flagged: %s", exc)
        dibao = pd.Series(None, index=h.index, dtype="object")
    months = int(ctx.p("policy.rigid_expense_months"))
    ratio = float(ctx.p("policy.rigid_expense_ratio"))
    m = ctx.dept["medical"]
    oop = m[ctx.in_window(m["discharge_date"], months)].groupby("household_id")["out_of_pocket"].sum().round(2)
    oop = oop.reindex(h.index, fill_value=0.0)
    yearly = (h["income"] * h["size"]).round(2)
    rigid = (h["size"] > 0) & (oop > 0) & (oop > ratio * yearly + _EPS)
    return pd.DataFrame({"dibao_edge": dibao, "rigid_expense": rigid.astype(bool)}, index=h.index)


# ---- risk level --------------------------------------------------------------------------------

def risk_levels(hits: pd.DataFrame, on: dt.date, province: str | None = None) -> pd.Series:
    """Risk level per household from a long frame of hits (household_id, code), policy risk.*:
    高 — a rule of risk.high_rules, or at least risk.high_min_hits rules; 中 — otherwise a rule
    of risk.medium_rules, or exactly risk.medium_hits rules; 低 — otherwise."""
    high_rules = set(param("risk.high_rules", on, province))
    medium_rules = set(param("risk.medium_rules", on, province))
    high_min = int(param("risk.high_min_hits", on, province))
    medium_n = int(param("risk.medium_hits", on, province))
    g = hits.groupby("household_id", sort=False)
    n = g.size()
    any_high = hits["code"].isin(high_rules).groupby(hits["household_id"], sort=False).any().reindex(n.index)
    any_med = hits["code"].isin(medium_rules).groupby(hits["household_id"], sort=False).any().reindex(n.index)
    level = np.select([any_high | (n >= high_min), any_med | (n == medium_n)], [RISK_LEVELS[0], RISK_LEVELS[1]],
                      RISK_LEVELS[2])
    return pd.Series(level, index=n.index, dtype="object")


def is_already_monitored(households: pd.DataFrame) -> pd.Series:
    """农户类别 is 监测户 and 风险是否已消除 is not 是 (data contract section 2)."""
    return (households["category"] == F.CAT_MONITORED) & (households["risk_eliminated"].fillna("") != "是")


# ---- screen ----------------------------------------------------------------------------------------

def screen(frames: dict[str, pd.DataFrame], period: Month | str, province: str | None = None) -> pd.DataFrame:
    """Screens the accepted rows of a period. PURE: no database, no clock.

    Returns one row per household hitting at least one rule, sorted by township, village and
    household: household_id, township_code, village_code, rules ('R01;R05'), risk_level
    (高|中|低), already_monitored (bool), explanation (one clause per hit, '；'-joined),
    head_name, category."""
    month = period if isinstance(period, Month) else Month.parse(str(period))
    ctx = prepare(frames, month, province)
    parts = []
    for code in sorted(RULES):
        r = RULES[code]
        hits = r.func(ctx)
        if len(hits):
            parts.append(pd.DataFrame({"household_id": hits.index, "code": code, "text": r.explain(hits).to_numpy()}))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="bool" if c == "already_monitored" else "object")
                             for c in OUTPUT_COLUMNS})
    long = pd.concat(parts, ignore_index=True).sort_values(["household_id", "code"], kind="stable")
    keys = long["household_id"].to_numpy()
    out = pd.DataFrame({"rules": join_groups(keys, long["code"].tolist(), RULE_SEP),
                        "explanation": join_groups(keys, long["text"].tolist(), CLAUSE_SEP)})
    out["risk_level"] = risk_levels(long, month.end, province).reindex(out.index)
    h = ctx.hh.loc[out.index]
    out["township_code"] = h["township_code"].astype(str)
    out["village_code"] = h["village_code"].astype(str)
    out["already_monitored"] = is_already_monitored(h).astype(bool)
    out["head_name"] = h["head_name"]
    out["category"] = h["category"]
    flags = policy_flags(ctx).reindex(out.index)
    for c in FLAG_COLUMNS:
        out[c] = flags[c]
    out.index.name = "household_id"
    out = out.reset_index()[OUTPUT_COLUMNS]
    return out.sort_values(["township_code", "village_code", "household_id"], ignore_index=True)


def load_frames(eng: Engine, period: str) -> dict[str, pd.DataFrame]:
    """The period's accepted rows of every feed the screening reads (typed, from the database)."""
    from fangpin.store.db import read_feed

    month = Month.parse(str(period))
    frames = {name: read_feed(eng, name, str(month)) for name in SCREEN_FEEDS}
    # R13 compares the 人社 rows of this month with those of the month before: when this delivery
    # does not repeat the month before, the rows of 统计月份 M−1 loaded with delivery M−1 are used
    prev = str(month.shift(-1))
    e = frames["employment"]
    if not (e["stat_month"] == prev).any():
        earlier = read_feed(eng, "employment", prev)
        earlier = earlier[earlier["stat_month"] == prev]
        if len(earlier):
            frames["employment"] = pd.concat([earlier, e], ignore_index=True)
    return frames


# ---- storing results: first seen, 新增 / 持续, push and verification dates ------------------------

def verify_by(pushed_on: dt.date, province: str | None = None) -> dt.date:
    """The verification deadline of a push sent on `pushed_on`: problems.verification_days later."""
    return pushed_on + dt.timedelta(days=int(param("problems.verification_days", pushed_on, province)))


def push_dates(period: Month | str, province: str | None = None,
               pushed_on: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """(pushed_on, verify_by) of a period's screening. pushed_on: the day the push is actually sent
    (the ingest run's date); when not given, the scheduled ingest day, day screening.push_day of
    the following month. Verification is due problems.verification_days after it."""
    month = period if isinstance(period, Month) else Month.parse(str(period))
    if pushed_on is None:
        pushed_on = day_of_next_month(month, "screening.push_day", province)
    return pushed_on, verify_by(pushed_on, province)


def store_screening(eng: Engine, period: Month | str, results: pd.DataFrame,
                    pushed_on: dt.date | None = None) -> pd.DataFrame:
    """Replaces the period's rows of screening_results by `results` and returns what was stored.

    first_seen: the earliest period (this one or before) in which the household was suspected;
    status: 持续疑似 when it was suspected in the previous month, else 新增疑似 (so a household
    suspected again after a gap is 新增 with an older first_seen).
    pushed_on: the day this run sends the push (default: the scheduled day, push_dates); a household
    already stored for the period keeps the push date it was first sent with (re-runs never move
    it); verify_by = pushed_on + problems.verification_days."""
    from fangpin.store.models import ScreeningResult

    month = period if isinstance(period, Month) else Month.parse(str(period))
    p, prev = str(month), str(month.shift(-1))
    t = ScreeningResult.__table__
    with eng.connect() as conn:
        first = dict(conn.execute(select(t.c.household_id, func.min(t.c.period)).where(t.c.period < p)
                                  .group_by(t.c.household_id)).all())
        before = {r[0] for r in conn.execute(select(t.c.household_id).where(t.c.period == prev))}
        sent = dict(conn.execute(select(t.c.household_id, t.c.pushed_on).where(t.c.period == p)).all())
    pushed_on, _ = push_dates(month, pushed_on=pushed_on)
    out = results.reindex(columns=OUTPUT_COLUMNS).copy()
    out["first_seen"] = out["household_id"].map(first).fillna(p)
    out["status"] = np.where(out["household_id"].isin(before), CONTINUING, NEW)
    pushed = [pd.Timestamp(sent[h]).date() if sent.get(h) is not None else pushed_on for h in out["household_id"]]
    out["pushed_on"] = pd.Series(pushed, index=out.index, dtype="object")
    out["verify_by"] = pd.Series([verify_by(d) for d in pushed], index=out.index, dtype="object")
    cols = [c.name for c in t.columns]
    records = out.assign(period=p, already_monitored=out["already_monitored"].astype(bool))[cols]
    records = records.astype(object).where(records.notna(), None).to_dict("records")
    with eng.begin() as conn:
        conn.execute(delete(t).where(t.c.period == p))
        for i in range(0, len(records), 20_000):
            conn.execute(t.insert(), records[i:i + 20_000])
    log.info("screening %s: %d suspected households stored (%d new)", p, len(out), int((out["status"] == NEW).sum()))
    out["pushed_on"] = pd.to_datetime(out["pushed_on"])
    out["verify_by"] = pd.to_datetime(out["verify_by"])
    return out


def read_screening(eng: Engine, period: Month | str) -> pd.DataFrame:
    """A period's stored screening results (dates as datetime64)."""
    from fangpin.store.models import ScreeningResult

    t = ScreeningResult.__table__
    with eng.connect() as conn:
        df = pd.read_sql(select(t).where(t.c.period == str(Month.parse(str(period))))
                         .order_by(t.c.township_code, t.c.village_code, t.c.household_id), conn)
    for c in ("pushed_on", "verify_by"):
        df[c] = pd.to_datetime(df[c])
    df["already_monitored"] = df["already_monitored"].astype(bool)
    return df


def write_screening_csv(results: pd.DataFrame, out_dir: Path) -> Path:
    """OUT/screening.csv (UTF-8 with BOM): the contract's seven columns, then the extras present."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cols = {**CSV_COLUMNS, **{k: v for k, v in CSV_EXTRAS.items() if k in results.columns}}
    df = results.reindex(columns=list(cols)).copy()
    df["already_monitored"] = np.where(df["already_monitored"].astype(bool), "是", "否")
    for c in FLAG_COLUMNS:
        if c in df:
            df[c] = [None if v is None or pd.isna(v) else ("是" if v else "否") for v in df[c]]
    for c in ("pushed_on", "verify_by"):
        if c in df:
            df[c] = pd.to_datetime(df[c]).dt.strftime("%Y-%m-%d")
    path = out_dir / CSV_NAME
    df.rename(columns=cols).to_csv(path, index=False, encoding="utf-8-sig")
    return path
