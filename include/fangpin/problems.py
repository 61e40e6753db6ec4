"""Problem lists (问题清单): derivation, stable numbers, deadlines, blue/yellow/red escalation.

Each month's bulletin (月通报) lists, per township, the problems the data show:

- 应纳未纳 — a high-risk suspected household, not already monitored, not verified in time;
- 纳而不扶 — a monitored household whose risk is not eliminated and that has 0 帮扶措施;
- 消除不规范 — risk eliminated this year less than problems.min_months_before_elimination
  months after identification, or with 人均纯收入 below T;
- 核实超期 — a pushed household verified later than problems.verification_days after the push
  (or not verified at all by the end of the month the deadline falls in);
- 电话抽查不符 — from the phone spot-check (fangpin.sample.spot_check_problems).

Every problem has a stable 问题编号 (see `problem_id`), the township, village and household, a
found date, and a deadline problems.rectification_days after the bulletin date. The
rectifications feed closes problems by number. See docs/problems.md for which delivery's
verifications judge which push, and how numbers stay stable across months and re-runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select, update

from fangpin import feeds as F
from fangpin.params import param
from fangpin.periods import Month
from fangpin.screen import RISK_LEVELS, yuan
from fangpin.store.db import read_feed
from fangpin.store.models import Problem, ScreeningResult

log = logging.getLogger(__name__)

PROBLEM_TYPES = ("应纳未纳", "纳而不扶", "消除不规范", "核实超期", "电话抽查不符")
SHOULD_MONITOR, MONITORED_UNASSISTED, IRREGULAR_ELIMINATION, LATE_VERIFICATION, SPOT_CHECK = PROBLEM_TYPES
# The code in a 问题编号 (ASCII: townships type it back into the rectifications feed).
TYPE_CODES = {SHOULD_MONITOR: "YNWN", MONITORED_UNASSISTED: "NEBF", IRREGULAR_ELIMINATION: "XCBG",
              LATE_VERIFICATION: "HSCQ", SPOT_CHECK: "DHCC"}

BLUE, YELLOW, RED = "蓝单", "黄单", "红单"
OPEN, OVERDUE, CLOSED = "未整改", "逾期未整改", "已整改"
# The escalation rule, worded once: the bulletin and the township lists print it.
ESCALATION = {
    BLUE: "本期新发现的问题，自通报之日起{days}日内整改到位并反馈整改情况",
    YELLOW: "超过整改期限仍未整改的问题，予以黄单催办",
    RED: "上期通报至本期通报仍未整改的问题，以及高风险户“应纳未纳”问题，予以红单挂牌督办",
}

COLUMNS = ["problem_id", "period", "problem_type", "township_code", "village_code", "household_id", "detail",
           "found_on", "deadline", "closed_on", "closing_note"]
LIST_COLUMNS = COLUMNS + ["status", "colour", "is_new"]
_DATE_COLS = ("found_on", "deadline", "closed_on")


# ---- dates and wording ----------------------------------------------------------------------

def bulletin_date(period: Month | str) -> dt.date:
    """The default date of a period's bulletin: day problems.bulletin_day of the following month
    (the month's deliveries are in by the 5th). Never the wall clock."""
    month = Month.parse(str(period))
    nxt = month.shift(1).start
    return nxt + dt.timedelta(days=int(param("problems.bulletin_day", nxt)) - 1)


_default_bulletin_date = bulletin_date


def escalation_rules(on: dt.date) -> dict[str, str]:
    """The escalation wording with the parameters in force on `on` (the bulletin date)."""
    days = int(param("problems.rectification_days", on))
    return {colour: text.format(days=days) for colour, text in ESCALATION.items()}


def problem_id(problem_type: str, household_id: str, fact: str) -> str:
    """问题编号: <type code>-<fact period YYYYMM>-<8 hex>; a hash of type, household and the fact
    that makes the problem (the push, the elimination month, the spot-check draw, …), so the
    same problem derived again gets the same number."""
    digest = hashlib.sha1(f"{problem_type}|{household_id}|{fact}".encode()).hexdigest()[:8].upper()
    return f"{TYPE_CODES[problem_type]}-{str(fact)[:7].replace('-', '')}-{digest}"


def _months_between(a: pd.Series, b: pd.Series) -> pd.Series:
    """Whole months from YYYY-MM `a` to YYYY-MM `b` (NaN when either is missing)."""
    def n(s):
        s = s.astype("object").where(s.notna(), None)
        y = pd.to_numeric(s.str[:4], errors="coerce")
        m = pd.to_numeric(s.str[-2:], errors="coerce")
        return y * 12 + m
    return n(b) - n(a)


# ---- candidates -----------------------------------------------------------------------------------

CANDIDATE_COLUMNS = ["problem_type", "household_id", "township_code", "village_code", "detail", "found_on", "fact"]


def _read_pushes(eng: Engine, month: Month) -> pd.DataFrame:
    """Screening results whose verification deadline falls in `month`: the pushes judged now."""
    t = ScreeningResult.__table__
    with eng.connect() as conn:
        df = pd.read_sql(select(t).where(t.c.verify_by >= month.start, t.c.verify_by <= month.end), conn)
    for c in ("pushed_on", "verify_by"):
        df[c] = pd.to_datetime(df[c])
    df["already_monitored"] = df["already_monitored"].astype(bool)
    return df


def verification_problems(eng: Engine, period: Month | str) -> pd.DataFrame:
    """应纳未纳 and 核实超期 for the pushes whose deadline falls in the period.

    A push of screening S goes out on pushed_on (screening.push_day of S+1) and must be verified
    by verify_by = pushed_on + problems.verification_days. Verifications are read from every
    delivery from the month of the push to this period, dated on or after the push; the earliest
    one counts. Households already monitored when screened are not asked to verify."""
    month = Month.parse(str(period))
    pushes = _read_pushes(eng, month)
    pushes = pushes[~pushes["already_monitored"]]
    if pushes.empty:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    first = Month.of(pushes["pushed_on"].min().date())
    feeds, m = [], first
    while m <= month:
        feeds.append(read_feed(eng, "verifications", str(m), columns=["household_id", "verify_date", "conclusion"]))
        m = m.shift(1)
    ver = pd.concat(feeds, ignore_index=True)
    joined = pushes.merge(ver, on="household_id", how="left")
    joined = joined[joined["verify_date"].isna() | (joined["verify_date"] >= joined["pushed_on"])]
    earliest = (joined.sort_values("verify_date").drop_duplicates(["household_id", "period"])
                .set_index(["household_id", "period"])[["verify_date", "conclusion"]])
    p = pushes.join(earliest, on=["household_id", "period"])

    fmt = lambda s: s.dt.strftime("%Y-%m-%d")  # noqa: E731
    in_time = p["verify_date"].notna() & (p["verify_date"] <= p["verify_by"])
    late = p["verify_date"].notna() & ~in_time
    missing = p["verify_date"].isna()
    days_late = (p["verify_date"] - p["verify_by"]).dt.days
    when = ("于" + fmt(p["pushed_on"]) + "推送（" + p["period"].str[:4] + "年" + p["period"].str[5:].str.lstrip("0")
            + "月比对），应于" + fmt(p["verify_by"]) + "前核实，")
    late_text = when + "实际" + fmt(p["verify_date"]) + "核实，超期" + days_late.astype("Int64").astype(str) + "天"
    missing_text = when + "截至" + f"{month.end:%Y-%m-%d}" + "未反馈核实结论"

    outcome = late_text.where(late, missing_text)
    day_after = p["verify_by"] + pd.Timedelta(days=1)
    high = (p["risk_level"] == RISK_LEVELS[0]) & ~in_time
    should = p.assign(problem_type=SHOULD_MONITOR, found_on=day_after,
                      detail="高风险疑似户（命中" + p["rules"].str.replace(";", "、") + "）未纳入监测，且未按期核实："
                             + outcome)[high]
    overdue = late | (missing & ~high)
    late_rows = p.assign(problem_type=LATE_VERIFICATION, found_on=p["verify_date"].where(late, day_after),
                         detail="疑似风险户" + outcome)[overdue]
    out = pd.concat([should, late_rows], ignore_index=True)
    out["fact"] = out["period"]  # the screening period of the push
    return out[CANDIDATE_COLUMNS]


def monitoring_problems(eng: Engine, period: Month | str, province: str | None = None) -> pd.DataFrame:
    """纳而不扶 and 消除不规范 from the period's households feed (a snapshot at the period's end)."""
    month = Month.parse(str(period))
    hh = read_feed(eng, "households", str(month))
    monitored = hh[hh["category"] == F.CAT_MONITORED]
    eliminated = monitored["risk_eliminated"] == "是"

    unassisted = monitored[~eliminated & (pd.to_numeric(monitored["measures"], errors="coerce").fillna(0) == 0)]
    ident = unassisted["identified_month"].fillna("未填")
    a = unassisted.assign(problem_type=MONITORED_UNASSISTED, fact=str(month),
                          detail="监测户（" + unassisted["monitor_type"].fillna("类别未填") + "，" + ident +
                                 "识别）风险未消除，帮扶措施数为0")

    e = monitored[eliminated & monitored["eliminated_month"].notna()]
    e = e[(e["eliminated_month"] >= f"{month.year:04d}-01") & (e["eliminated_month"] <= str(month))]
    min_months = int(param("problems.min_months_before_elimination", month.end, province))
    t = float(param("screening.monitoring_threshold", month.end, province))
    gap = _months_between(e["identified_month"], e["eliminated_month"])
    too_soon = gap.notna() & (gap < min_months)
    poor = e["income"] < t
    reasons = pd.Series("", index=e.index, dtype="object")
    reasons = reasons.where(~too_soon, e["identified_month"].astype(str) + "识别、" + e["eliminated_month"].astype(str) +
                            "标注风险消除，仅间隔" + gap.astype("Int64").astype(str) + "个月（不足" + str(min_months) + "个月）")
    poor_text = pd.Series([f"人均纯收入{v}元低于监测范围{yuan([t])[0]}元" for v in yuan(e["income"])], index=e.index,
                          dtype="object")
    reasons = np.where(too_soon & poor, reasons + "；" + poor_text, np.where(poor, poor_text, reasons))
    b = e[too_soon | poor].assign(problem_type=IRREGULAR_ELIMINATION,
                                  detail=("风险消除不规范：" + pd.Series(reasons, index=e.index))[too_soon | poor])
    b = b.assign(fact=b["eliminated_month"])
    out = pd.concat([a, b], ignore_index=True)
    out["found_on"] = pd.Timestamp(month.end)
    return out[CANDIDATE_COLUMNS]


def spot_check_candidates(eng: Engine, period: Month | str) -> pd.DataFrame:
    try:
        from fangpin.sample import spot_check_problems
    except ImportError:  # the spot-check stage is optional
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    df = spot_check_problems(eng, str(Month.parse(str(period))))
    if df.empty:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    fact = df["draw_period"] if "draw_period" in df else pd.Series(str(period), index=df.index)
    return df.assign(fact=fact.astype(str), found_on=pd.to_datetime(df["found_on"]))[CANDIDATE_COLUMNS]


def candidates(eng: Engine, period: Month | str) -> pd.DataFrame:
    """Every problem the period's data show (before numbering and matching with stored problems)."""
    parts = [verification_problems(eng, period), monitoring_problems(eng, period), spot_check_candidates(eng, period)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["found_on"] = pd.to_datetime(out["found_on"]).dt.date
    return out


# ---- stored problems ------------------------------------------------------------------------------

def read_problems(eng: Engine) -> pd.DataFrame:
    t = Problem.__table__
    with eng.connect() as conn:
        df = pd.read_sql(select(t), conn)
    for c in _DATE_COLS:
        df[c] = pd.to_datetime(df[c]).dt.date.astype("object").where(df[c].notna(), None)
    return df.reindex(columns=COLUMNS)


def apply_rectifications(eng: Engine, period: Month | str) -> pd.DataFrame:
    """Closes stored problems named in the period's rectifications feed (closed_on = the earliest
    整改日期, closing_note = its 整改情况); a problem already closed keeps its closure. Returns
    the rectification rows naming an unknown 问题编号 (reported, never accepted)."""
    month = Month.parse(str(period))
    rect = read_feed(eng, "rectifications", str(month))
    if rect.empty:
        return rect.assign(reason=pd.Series(dtype="object"))
    rect = rect.assign(problem_id=rect["problem_id"].astype(str).str.strip().str.upper())
    t = Problem.__table__
    with eng.connect() as conn:
        known = dict(conn.execute(select(t.c.problem_id, t.c.closed_on)).all())
    unknown = rect[~rect["problem_id"].isin(known)].assign(reason="问题编号不存在：未找到该编号的通报问题")
    first = (rect[rect["problem_id"].isin(known)].sort_values(["rectify_date", "source_row"])
             .drop_duplicates("problem_id"))
    to_close = first[first["problem_id"].map(known).isna()]
    with eng.begin() as conn:
        for r in to_close.itertuples(index=False):
            conn.execute(update(t).where(t.c.problem_id == r.problem_id, t.c.closed_on.is_(None))
                         .values(closed_on=r.rectify_date.date(), closing_note=r.description))
    if len(unknown):
        log.warning("rectifications %s: %d rows name an unknown 问题编号", month, len(unknown))
    log.info("rectifications %s: %d problems closed", month, len(to_close))
    return unknown.reset_index(drop=True)


def unknown_rectifications(eng: Engine, period: Month | str) -> pd.DataFrame:
    """The period's rectification rows whose 问题编号 names no problem (for the bulletin)."""
    rect = read_feed(eng, "rectifications", str(Month.parse(str(period))))
    ids = set(read_problems(eng)["problem_id"])
    rect = rect.assign(problem_id=rect["problem_id"].astype(str).str.strip().str.upper())
    return rect[~rect["problem_id"].isin(ids)].assign(reason="问题编号不存在：未找到该编号的通报问题").reset_index(drop=True)


def derive_problems(eng: Engine, period: Month | str, bulletin_date: dt.date | None = None) -> pd.DataFrame:
    """Derives and stores the period's problems; returns the period's problem list (problem_list).

    1. the period's rectifications close the problems they name;
    2. the period's candidates are numbered: a candidate whose number exists keeps that row (a
       closed one is not raised again); else an open problem of the same type and household found
       in an earlier period continues (its number and found date kept); else it is new, with
       deadline = bulletin date + problems.rectification_days;
    3. open problems first found in this period that the data no longer show are removed (a re-run
       after a corrected delivery), so re-running a period creates no duplicates."""
    month = Month.parse(str(period))
    p = str(month)
    bdate = bulletin_date or _default_bulletin_date(month)
    apply_rectifications(eng, month)
    cand = candidates(eng, month)
    stored = read_problems(eng)
    deadline = bdate + dt.timedelta(days=int(param("problems.rectification_days", bdate)))

    cand["problem_id"] = [problem_id(t, h, f) for t, h, f in zip(cand["problem_type"], cand["household_id"],
                                                                  cand["fact"])]
    cand = cand.drop_duplicates("problem_id")
    by_id = stored.set_index("problem_id")
    period_of = by_id["period"].to_dict()
    earlier_open = stored[(stored["period"] < p) & stored["closed_on"].isna()]
    continuing = set(zip(earlier_open["problem_type"], earlier_open["household_id"]))
    exists_earlier = pd.Series([period_of.get(i, p) < p for i in cand["problem_id"]], index=cand.index, dtype=bool)
    cont = pd.Series([i not in period_of and k in continuing
                      for i, k in zip(cand["problem_id"], zip(cand["problem_type"], cand["household_id"]))],
                     index=cand.index, dtype=bool)
    new = cand[~exists_earlier & ~cont].copy()
    new["period"], new["deadline"] = p, deadline
    keep = by_id.reindex(new["problem_id"])
    new["closed_on"] = keep["closed_on"].to_numpy()
    new["closing_note"] = keep["closing_note"].to_numpy()

    current = set(new["problem_id"])
    stale = stored[(stored["period"] == p) & stored["closed_on"].isna() & ~stored["problem_id"].isin(current)]
    t = Problem.__table__
    rows = new[COLUMNS].astype(object).where(new[COLUMNS].notna(), None).to_dict("records")
    with eng.begin() as conn:
        gone = list(current | set(stale["problem_id"]))
        for i in range(0, len(gone), 500):
            conn.execute(delete(t).where(t.c.problem_id.in_(gone[i:i + 500])))
        for i in range(0, len(rows), 5000):
            conn.execute(t.insert(), rows[i:i + 5000])
    log.info("problems %s: %d candidates, %d stored for the period, %d continued, %d stale removed",
             p, len(cand), len(new), int(cont.sum()), len(stale))
    return problem_list(eng, month, bdate)


def problem_list(eng: Engine, period: Month | str, bulletin_date: dt.date | None = None,
                 as_of: dt.date | None = None) -> pd.DataFrame:
    """The problems relevant to the period's bulletin, with status and list colour as of `as_of`
    (default: the bulletin date): problems found in the period; problems found earlier and still
    open at the bulletin; problems found earlier and rectified since the period began (销号).

    status: 已整改 | 逾期未整改 (deadline passed) | 未整改. colour (open problems only):
    红单 found in an earlier period and still open, or any 应纳未纳 (always a high-risk household);
    黄单 deadline passed; 蓝单 a new problem within its deadline. Closed problems have no colour.
    Sorted by township, colour (红, 黄, 蓝), type and number."""
    month = Month.parse(str(period))
    p = str(month)
    bdate = bulletin_date or _default_bulletin_date(month)
    as_of = as_of or bdate
    df = read_problems(eng)
    closed_by = df["closed_on"].map(lambda d: d is not None and d <= as_of).astype(bool)
    closed_since = df["closed_on"].map(lambda d: d is not None and d >= month.start).astype(bool)
    relevant = (df["period"] == p) | ((df["period"] < p) & (~closed_by | closed_since))
    out = df[relevant].copy()
    closed = closed_by[relevant]
    overdue = out["deadline"].map(lambda d: d < as_of).astype(bool) & ~closed
    out["status"] = np.select([closed, overdue], [CLOSED, OVERDUE], OPEN)
    red = ~closed & ((out["period"] < p) | (out["problem_type"] == SHOULD_MONITOR))
    out["colour"] = np.select([red, ~closed & overdue, ~closed], [RED, YELLOW, BLUE], "")
    out["is_new"] = out["period"] == p
    order = {RED: 0, YELLOW: 1, BLUE: 2, "": 3}
    out = out.assign(_c=out["colour"].map(order), _t=out["problem_type"].map(PROBLEM_TYPES.index))
    return out.sort_values(["township_code", "_c", "_t", "problem_id"], ignore_index=True)[LIST_COLUMNS]
