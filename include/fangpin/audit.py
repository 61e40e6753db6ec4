"""Registry audit (疑点数据核查): checks A01–A12 over a period's accepted rows.

Data contract section 2b defines the checks. Screening (fangpin.screen) looks for households at
risk; the audit looks for records of the monitoring registry that contradict each other or the
department data (疑点, doubtful records) so the township can check and correct them. The design
mirrors the screening's rule registry: each check is ONE declarative entry — code, Chinese name,
the template of its explanation (说明), the dated parameters it reads and the optional households
columns it needs — on a small vectorised function over the prepared frames. Adding a check is
one `@check(...)` entry plus its YAML cases in tests/rules/Axx.yaml.

Population and frames are the screening's (fangpin.screen.prepare): accepted households, their
accepted members, a household's size and laborers counted the same way; department rows reach a
household through the members' 身份证号. The member-based checks (A06–A11) judge households with
at least one accepted member.

A check whose optional columns (风险类型, 风险消除方式) were not delivered — the column is absent from
the households file, or empty in every accepted row — is skipped and reported as such (未核查).
These contradictions are never validity errors: the rows are loaded and screened as usual.

Flagged households become problems of type 疑点数据 (type code YDSJ) on the township's problem
list: `audit_problem_candidates()` gives them in the shape of fangpin.problems' candidates.

See docs/audit.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
from sqlalchemy import Engine, delete, select

from fangpin import feeds as F
from fangpin.ids import mask_phone
from fangpin.periods import Month
from fangpin.screen import SCREEN_FEEDS, Context, join_groups, pct, prepare, yuan

log = logging.getLogger(__name__)

CHECKED, SKIPPED = "已核查", "未核查"
PROBLEM_TYPE = "疑点数据"
PROBLEM_TYPE_CODE = "YDSJ"   # the code in a 问题编号 (fangpin.problems.TYPE_CODES) — wired by the lead
CSV_NAME = "audit.csv"
OUTPUT_COLUMNS = ["household_id", "township_code", "village_code", "checks", "explanation"]
CSV_COLUMNS = {"household_id": "户编号", "township_code": "乡镇代码", "village_code": "村代码", "checks": "核查规则",
               "explanation": "说明"}
CHECK_SEP, CLAUSE_SEP = ";", "；"
YES = "是"
_EPS = 1e-9


# ---- context: the screening's prepared frames plus what the audit needs -----------------------

@dataclass
class AuditContext(Context):
    """The screening Context (hh, members, dept) plus members' relation, birth date and sex, and
    the optional households columns that were delivered."""

    people: pd.DataFrame = field(default_factory=pd.DataFrame)   # id_number, household_id, name, relation, labor_skill, born, male
    delivered: frozenset = frozenset()                            # optional households columns delivered


def _birth(ids: pd.Series) -> pd.Series:
    return pd.to_datetime(ids.astype(str).str[6:14], format="%Y%m%d", errors="coerce")


def _male(ids: pd.Series) -> pd.Series:
    """17th character of the ID: odd male, even female (NaN when not a digit)."""
    d = pd.to_numeric(ids.astype(str).str[16], errors="coerce")
    return (d % 2 == 1).where(d.notna())


def audit_context(frames: dict[str, pd.DataFrame], month: Month, province: str | None = None) -> AuditContext:
    base = prepare(frames, month, province)
    members = frames.get("members")
    if members is None or members.empty:
        people = pd.DataFrame({c: pd.Series(dtype="object") for c in ("id_number", "household_id", "name", "relation",
                                                                       "labor_skill")})
    else:
        people = members[["id_number", "household_id", "name", "relation", "labor_skill"]]
        people = people[people["household_id"].isin(base.hh.index)].drop_duplicates("id_number", keep="last")
    people = people.assign(relation=people["relation"].astype(str).str.strip(), born=_birth(people["id_number"]),
                           male=_male(people["id_number"]))
    delivered = frozenset(c.name for c in F.HOUSEHOLDS.columns
                          if c.optional and c.name in base.hh and base.hh[c.name].notna().any())
    return AuditContext(base.month, base.province, base.hh, base.members, base.dept, people, delivered)


# ---- the checks registry ------------------------------------------------------------------------

CheckFunc = Callable[[AuditContext], pd.DataFrame]


@dataclass(frozen=True)
class Check:
    code: str
    name: str
    template: str                 # str.format template over the columns the function returns
    params: tuple[str, ...]       # dated parameters it reads (parameters.yaml)
    needs: tuple[str, ...]        # optional households columns it needs (skipped when not delivered)
    func: CheckFunc               # -> one row per flagged household (index household_id)
    feeds: tuple[str, ...] = ()   # department feeds it reads (a caveat when one was not delivered)

    def explain(self, hits: pd.DataFrame) -> pd.Series:
        cols = list(hits.columns)
        fmt = f"{self.code} {self.template}".format_map
        texts = [fmt(dict(zip(cols, row))) for row in zip(*(hits[c].tolist() for c in cols))]
        return pd.Series(texts, index=hits.index, dtype="object")

    def missing(self, ctx: AuditContext) -> list[str]:
        """Chinese headers of the optional columns this check needs that were not delivered."""
        return [F.HOUSEHOLDS.zh_of(c) for c in self.needs if c not in ctx.delivered]


CHECKS: dict[str, Check] = {}


def check(code: str, name: str, template: str, params: tuple[str, ...] = (), needs: tuple[str, ...] = (),
          feeds: tuple[str, ...] = ()):
    def register(fn: CheckFunc) -> CheckFunc:
        CHECKS[code] = Check(code, name, template, tuple(params), tuple(needs), fn, tuple(feeds))
        return fn
    return register


def _fields(index, **columns) -> pd.DataFrame:
    return pd.DataFrame(columns, index=index)


def _eliminated(hh: pd.DataFrame) -> pd.Series:
    return hh["risk_eliminated"].fillna("") == YES


def _month_number(values: pd.Series) -> pd.Series:
    """'2026-07' -> 2026 * 12 + 7 (NaN when empty)."""
    s = values.astype(object).where(values.notna(), None)
    y = pd.to_numeric(s.str[:4], errors="coerce")
    m = pd.to_numeric(s.str[5:7], errors="coerce")
    return y * 12 + m


def _has_type(hh: pd.DataFrame, risk_type: str) -> pd.Series:
    items = hh["risk_types"].fillna("").astype(str).str.split(F.RISK_TYPE_SEP)
    return items.map(lambda xs: risk_type in {x.strip() for x in xs}).astype(bool)


def _households_in(frame: pd.DataFrame) -> pd.Index:
    """The households that have at least one row in a department frame (joined to household_id)."""
    return pd.Index(frame["household_id"].unique())


@check("A01", "收入低于监测范围却已消除风险", "风险已消除，但人均纯收入 {income} 元 < 监测范围 {T} 元",
       params=("screening.monitoring_threshold",))
def a01(ctx: AuditContext) -> pd.DataFrame:
    t = float(ctx.p("screening.monitoring_threshold"))
    h = ctx.hh[_eliminated(ctx.hh) & (ctx.hh["income"] < t)]
    return _fields(h.index, income=yuan(h["income"]), T=yuan([t])[0])


@check("A02", "消除过快", "{identified} 识别监测、{eliminated} 消除，仅间隔 {months} 个月（不足 {min} 个月）",
       params=("problems.min_months_before_elimination",))
def a02(ctx: AuditContext) -> pd.DataFrame:
    n = int(ctx.p("problems.min_months_before_elimination"))
    h = ctx.hh
    gap = _month_number(h["eliminated_month"]) - _month_number(h["identified_month"])
    hit = _eliminated(h) & gap.notna() & (gap < n)
    h, gap = h[hit], gap[hit]
    return _fields(h.index, identified=h["identified_month"], eliminated=h["eliminated_month"],
                   months=gap.astype("int64"), min=n)


@check("A03", "消除信息不完整", "{what}")
def a03(ctx: AuditContext) -> pd.DataFrame:
    h = ctx.hh
    done, month = _eliminated(h), h["eliminated_month"].notna()
    no_month = h[done & ~month]
    not_done = h[~done & month]
    state = not_done["risk_eliminated"].fillna("未填")
    what = pd.concat([
        pd.Series("风险是否已消除为“是”，但未填写消除监测时间", index=no_month.index, dtype="object"),
        "填写了消除监测时间 " + not_done["eliminated_month"].astype(str) + "，但风险是否已消除为“" + state + "”",
    ])
    return _fields(what.index, what=what)


_MONITOR_FIELDS = ("monitor_type", "risk_eliminated", "eliminated_month")


@check("A04", "非监测户填写监测信息", "农户类别为{category}，却填写了{fields}")
def a04(ctx: AuditContext) -> pd.DataFrame:
    h = ctx.hh[ctx.hh["category"] != F.CAT_MONITORED]
    filled = pd.DataFrame({c: h[c].notna() & (h[c].astype(str).str.strip() != "") for c in _MONITOR_FIELDS},
                          index=h.index)
    h, filled = h[filled.any(axis=1)], filled[filled.any(axis=1)]
    names = [F.HOUSEHOLDS.zh_of(c) for c in _MONITOR_FIELDS]
    fields = ["、".join(n for n, on in zip(names, row) if on) for row in filled.itertuples(index=False)]
    return _fields(h.index, category=h["category"], fields=fields)


@check("A05", "因病风险无医疗佐证",
       "风险类型含因病，但 {start} 至 {end} 无住院个人自付，也无大病、慢性病确诊记录",
       params=("audit.medical_lookback_months",), needs=("risk_types",), feeds=("medical", "health"))
def a05(ctx: AuditContext) -> pd.DataFrame:
    months = int(ctx.p("audit.medical_lookback_months"))
    start = ctx.months_back(months)
    m = ctx.dept["medical"]
    m = m[(m["discharge_date"] >= start) & (m["discharge_date"] <= ctx.end) & (m["out_of_pocket"] > 0)]
    d = ctx.dept["health"]
    d = d[d["disease_class"].isin(F.DISEASE_CLASSES) & (d["diagnosis_date"] <= ctx.end)]
    evidence = _households_in(m).union(_households_in(d))
    h = ctx.hh[_has_type(ctx.hh, "因病") & ~ctx.hh.index.isin(evidence)]
    return _fields(h.index, start=f"{start:%Y-%m-%d}", end=f"{ctx.end:%Y-%m-%d}")


@check("A06", "缺劳动力风险与劳动力不符", "风险类型含缺劳动力，但家庭 {size} 人中劳动力 {laborers} 人，占比 {share} 超过 {max}",
       params=("audit.max_labor_share",), needs=("risk_types",))
def a06(ctx: AuditContext) -> pd.DataFrame:
    share = float(ctx.p("audit.max_labor_share"))
    h = ctx.hh[(ctx.hh["size"] > 0) & _has_type(ctx.hh, "缺劳动力")]
    h = h[h["laborers"] > share * h["size"] + _EPS]
    return _fields(h.index, size=h["size"], laborers=h["laborers"],
                   share=pct((h["laborers"] / h["size"]).round(4)), max=pct([share])[0])


@check("A07", "无劳动力户已消除风险", "风险已消除，但整户 {size} 人均为丧失劳动力或无劳动力")
def a07(ctx: AuditContext) -> pd.DataFrame:
    h = ctx.hh[_eliminated(ctx.hh) & (ctx.hh["size"] > 0) & (ctx.hh["laborers"] == 0)]
    return _fields(h.index, size=h["size"])


@check("A08", "无劳动力监测户未兜底", "监测户风险未消除，整户 {size} 人均无劳动力，且无成员纳入低保或特困",
       feeds=("civil_affairs",))
def a08(ctx: AuditContext) -> pd.DataFrame:
    from fangpin.screen import is_already_monitored

    c = ctx.dept["civil_affairs"]
    c = c[c["assistance_type"].isin(("低保", "特困")) & (c["start_date"] <= ctx.end)]
    h = ctx.hh
    h = h[is_already_monitored(h) & (h["size"] > 0) & (h["laborers"] == 0) & ~h.index.isin(_households_in(c))]
    return _fields(h.index, size=h["size"])


@check("A09", "未成年人标为劳动力", "未满 {age} 周岁标为劳动力：{items}", params=("audit.minor_age",))
def a09(ctx: AuditContext) -> pd.DataFrame:
    age = int(ctx.p("audit.minor_age"))
    end = ctx.month.end
    p = ctx.people
    p = p[p["labor_skill"].isin(F.LABORER_SKILLS[:2]) & p["born"].notna()]
    # under `age` at the period's end: the `age`-th birthday falls after the period's last day
    years = end.year - p["born"].dt.year - ((p["born"].dt.month * 100 + p["born"].dt.day) > end.month * 100 + end.day)
    p = p.assign(years=years)[years < age].sort_values(["household_id", "born"])
    text = p["name"].astype(str) + "（" + p["years"].astype(str) + " 周岁，" + p["labor_skill"] + "）"
    items = join_groups(p["household_id"].to_numpy(), text.tolist(), "、")
    return _fields(items.index, age=age, items=items)


@check("A10", "户主不唯一", "家庭成员中与户主关系为“户主”的有 {n} 人（应为 1 人）")
def a10(ctx: AuditContext) -> pd.DataFrame:
    heads = ctx.people.loc[ctx.people["relation"] == "户主", "household_id"].value_counts()
    h = ctx.hh[ctx.hh["size"] > 0]
    n = heads.reindex(h.index, fill_value=0)
    n = n[n != 1]
    return _fields(n.index, n=n.astype("int64"))


@check("A11", "户主与配偶同性别", "户主与配偶均为{sex}性")
def a11(ctx: AuditContext) -> pd.DataFrame:
    spouses = ctx.people[(ctx.people["relation"] == "配偶") & ctx.people["male"].notna()]
    head_male = _male(ctx.hh["head_id_number"])
    s = spouses.assign(head_male=head_male.reindex(spouses["household_id"]).to_numpy())
    s = s[s["head_male"].notna() & (s["male"].astype(bool) == s["head_male"].astype(bool))]
    s = s.drop_duplicates("household_id").set_index("household_id")
    return _fields(s.index, sex=["男" if m else "女" for m in s["male"].astype(bool)])


@check("A12", "联系电话多户共用", "联系电话 {phone} 由 {n} 户共用（超过 {max} 户）",
       params=("audit.max_households_per_phone",))
def a12(ctx: AuditContext) -> pd.DataFrame:
    limit = int(ctx.p("audit.max_households_per_phone"))
    phone = ctx.hh["phone"].astype(object).where(ctx.hh["phone"].notna(), None)
    phone = phone.where(phone.astype(str).str.strip() != "", None).dropna()
    n = phone.map(phone.value_counts())
    hit = n[n > limit]
    return _fields(hit.index, phone=[mask_phone(p) for p in phone[hit.index]], n=hit.astype("int64"), max=limit)


# ---- the audit ------------------------------------------------------------------------------------

@dataclass
class AuditResult:
    """The audit of a period: flagged households (OUTPUT_COLUMNS) and every check's outcome."""

    period: str
    flagged: pd.DataFrame
    checks: pd.DataFrame      # code, name, status (已核查 | 未核查), flagged, note

    @property
    def skipped(self) -> list[str]:
        return self.checks.loc[self.checks["status"] == SKIPPED, "code"].tolist()

    def caveats(self) -> str:
        """'A05 因病风险无医疗佐证（部门数据未提供：…）' for the checks run without all their feeds."""
        s = self.checks[(self.checks["status"] == CHECKED) & self.checks["note"].notna()]
        return "；".join(f"{c} {n}（{note}）" for c, n, note in zip(s["code"], s["name"], s["note"]))

    def skipped_text(self) -> str:
        """'A05、A06（户表未提供：风险类型）' — what the CLI prints."""
        s = self.checks[self.checks["status"] == SKIPPED]
        return "；".join(f"{c} {n}（{note}）" for c, n, note in zip(s["code"], s["name"], s["note"]))


def audit(frames: dict[str, pd.DataFrame], period: Month | str, province: str | None = None,
          absent_feeds=()) -> AuditResult:
    """Audits the accepted rows of a period. PURE: no database, no clock.

    Returns the flagged households, one row each, sorted by township, village and household:
    household_id, township_code, village_code, checks ('A01;A05'), explanation (one clause per
    flag, '；'-joined) — and the outcome of every check (run with its count, or skipped).
    absent_feeds: department feeds not delivered for the period; a check reading one still runs as
    its rule says, and its outcome's note says the evidence may be incomplete (`caveats`)."""
    month = period if isinstance(period, Month) else Month.parse(str(period))
    ctx = audit_context(frames, month, province)
    parts, outcomes = [], []
    for code in sorted(CHECKS):
        c = CHECKS[code]
        missing = c.missing(ctx)
        if missing:
            outcomes.append({"code": code, "name": c.name, "status": SKIPPED, "flagged": 0,
                             "note": f"户表未提供：{'、'.join(missing)}"})
            continue
        absent = [f for f in c.feeds if f in set(absent_feeds)]
        note = None
        if absent:  # still checked as the rule says, but the evidence may be incomplete: said so
            names = "、".join(f"{F.FEEDS[f].department}（{f}）" for f in absent)
            note = f"部门数据未提供：{names}，本项疑点可能因缺少佐证数据而偏多，请结合实际核实"
        hits = c.func(ctx)
        outcomes.append({"code": code, "name": c.name, "status": CHECKED, "flagged": int(len(hits)), "note": note})
        if len(hits):
            parts.append(pd.DataFrame({"household_id": hits.index, "code": code, "text": c.explain(hits).to_numpy()}))
    checks = pd.DataFrame(outcomes, columns=["code", "name", "status", "flagged", "note"])
    if not parts:
        return AuditResult(str(month), pd.DataFrame({c: pd.Series(dtype="object") for c in OUTPUT_COLUMNS}), checks)
    long = pd.concat(parts, ignore_index=True).sort_values(["household_id", "code"], kind="stable")
    keys = long["household_id"].to_numpy()
    out = pd.DataFrame({"checks": join_groups(keys, long["code"].tolist(), CHECK_SEP),
                        "explanation": join_groups(keys, long["text"].tolist(), CLAUSE_SEP)})
    h = ctx.hh.loc[out.index]
    out["township_code"] = h["township_code"].astype(str)
    out["village_code"] = h["village_code"].astype(str)
    out.index.name = "household_id"
    out = out.reset_index()[OUTPUT_COLUMNS]
    return AuditResult(str(month), out.sort_values(["township_code", "village_code", "household_id"],
                                                   ignore_index=True), checks)


AUDIT_FEEDS = tuple(SCREEN_FEEDS)


def needed_feeds() -> list[str]:
    """The department feeds some check reads (for the not-delivered test)."""
    return sorted({f for c in CHECKS.values() for f in c.feeds})


def load_frames(eng: Engine, period: str) -> dict[str, pd.DataFrame]:
    """The period's accepted rows of every feed the audit reads (typed, from the database)."""
    from fangpin.store.db import read_feed

    period = str(Month.parse(str(period)))
    return {name: read_feed(eng, name, period) for name in AUDIT_FEEDS}


# ---- storing and writing ------------------------------------------------------------------------

def store_audit(eng: Engine, result: AuditResult) -> None:
    """Replaces the period's rows of audit_results and audit_check_runs (one transaction)."""
    from fangpin.store.models import AuditCheckRun, AuditResult as Row

    p = result.period
    flagged = result.flagged[OUTPUT_COLUMNS].assign(period=p)
    checks = result.checks.assign(period=p)
    t, c = Row.__table__, AuditCheckRun.__table__
    with eng.begin() as conn:
        conn.execute(delete(t).where(t.c.period == p))
        conn.execute(delete(c).where(c.c.period == p))
        records = flagged.astype(object).where(flagged.notna(), None).to_dict("records")
        for i in range(0, len(records), 20_000):
            conn.execute(t.insert(), records[i:i + 20_000])
        conn.execute(c.insert(), checks.astype(object).where(checks.notna(), None).to_dict("records"))
    log.info("audit %s: %d households flagged; skipped: %s", p, len(flagged), ", ".join(result.skipped) or "none")


def read_audit(eng: Engine, period: Month | str) -> AuditResult:
    """A period's stored audit (flagged households and check outcomes)."""
    from fangpin.store.models import AuditCheckRun, AuditResult as Row

    p = str(Month.parse(str(period)))
    t, c = Row.__table__, AuditCheckRun.__table__
    with eng.connect() as conn:
        flagged = pd.read_sql(select(t).where(t.c.period == p)
                              .order_by(t.c.township_code, t.c.village_code, t.c.household_id), conn)
        checks = pd.read_sql(select(c).where(c.c.period == p).order_by(c.c.code), conn)
    return AuditResult(p, flagged[OUTPUT_COLUMNS], checks[["code", "name", "status", "flagged", "note"]])


def write_audit_csv(result: AuditResult, out_dir: Path) -> Path:
    """OUT/audit.csv (UTF-8 with BOM): 户编号, 乡镇代码, 村代码, 核查规则, 说明."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CSV_NAME
    result.flagged.reindex(columns=list(CSV_COLUMNS)).rename(columns=CSV_COLUMNS).to_csv(
        path, index=False, encoding="utf-8-sig")
    return path


# ---- for the problem list and the bulletin ------------------------------------------------------

CANDIDATE_COLUMNS = ["problem_type", "household_id", "township_code", "village_code", "detail", "found_on", "fact"]


def audit_problem_candidates(eng: Engine, period: Month | str) -> pd.DataFrame:
    """The period's flagged households as problem candidates of type 疑点数据 (the shape of
    fangpin.problems.CANDIDATE_COLUMNS): detail '疑点数据：A01 …；A05 …', found on the period's last
    day, fact = the period (an unresolved doubt found again next month continues the same problem)."""
    month = Month.parse(str(period))
    flagged = read_audit(eng, month).flagged
    if flagged.empty:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    return pd.DataFrame({
        "problem_type": PROBLEM_TYPE, "household_id": flagged["household_id"],
        "township_code": flagged["township_code"], "village_code": flagged["village_code"],
        "detail": "疑点数据：" + flagged["explanation"], "found_on": pd.Timestamp(month.end), "fact": str(month),
    })[CANDIDATE_COLUMNS]


def audit_counts(eng: Engine, period: Month | str) -> pd.DataFrame:
    """Flagged households per township and check (for the bulletin's 疑点数据 section):
    township_code, code, name, households."""
    result = read_audit(eng, period)
    f = result.flagged
    if f.empty:
        return pd.DataFrame(columns=["township_code", "code", "name", "households"])
    long = f.assign(code=f["checks"].str.split(CHECK_SEP)).explode("code")
    out = long.groupby(["township_code", "code"]).size().rename("households").reset_index()
    out["name"] = out["code"].map({c: k.name for c, k in CHECKS.items()})
    return out[["township_code", "code", "name", "households"]]
