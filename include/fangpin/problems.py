"""Problem lists (问题清单): derivation, stable numbers, deadlines, blue/yellow/red escalation.

Each month's bulletin (月通报) lists, per township, the problems the data show:

- 应纳未纳 — a high-risk suspected household, not already monitored, not verified in time;
- 纳而不扶 — a monitored household whose risk is not eliminated and that has 0 帮扶措施;
- 消除不规范 — risk eliminated this year less than problems.min_months_before_elimination
  months after identification, or with 人均纯收入 below T;
- 核实超期 — a pushed household verified later than problems.verification_days after the push
  (or not verified at all by the end of the month the deadline falls in);
- 电话抽查不符 — from the phone spot-check (fangpin.sample.spot_check_problems).
- 疑点数据 — a household the registry audit flags (fangpin.audit, checks A01–A12).

Every problem has a stable 问题编号 (see `problem_id`), the township, village and household, a
found date, its 通报日期 (the bulletin that first listed it) and a deadline
problems.rectification_days after it. The rectifications feed closes problems by number.

State (data contract section 4) — this module is its only home; reports read `problem_list`:
- 蓝 from its bulletin until its deadline;
- 黄 once the deadline has passed without a rectification (the weekly run marks it: `mark_overdue`);
- 红 when still open at the next monthly bulletin, or from its own bulletin for 应纳未纳 (a
  high-risk household not monitored); every bulletin that lists it red gives a new deadline
  (that bulletin's date + problems.rectification_days);
- 已销号 once rectified: 是否按期整改 = 是 when the 整改日期 is not after the deadline in force that
  day, else 否. A rectification dated before the problem's 通报日期 is quarantined at ingest
  (`rectification_check`) and never closes it.
States are computed for a date from stored facts only (`states(..., as_of, known_by)`): a closure
counts once it is dated on or before `as_of`; a report also passes `known_by`, its own date, and
then a closure counts only if its rectification had arrived by then (closed_known_on,
fangpin.feedback.arrived_on), so re-running a past period or week after later deliveries
reproduces it. Without `known_by` (problems.csv, `fangpin problems --as-of`) every stored fact
counts: the state on that day as best known now. See docs/problems.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select, update

from fangpin import feeds as F
from fangpin.params import day_of_next_month, param
from fangpin.periods import Month
from fangpin.screen import RISK_LEVELS, yuan
from fangpin.feedback import read_feedback
from fangpin.store.db import read_feed
from fangpin.store.models import Problem, ScreeningResult

log = logging.getLogger(__name__)

PROBLEM_TYPES = ("应纳未纳", "纳而不扶", "消除不规范", "核实超期", "电话抽查不符", "疑点数据")
SHOULD_MONITOR, MONITORED_UNASSISTED, IRREGULAR_ELIMINATION, LATE_VERIFICATION, SPOT_CHECK, DOUBTFUL = PROBLEM_TYPES
# The code in a 问题编号 (ASCII: townships type it back into the rectifications feed).
TYPE_CODES = {SHOULD_MONITOR: "YNWN", MONITORED_UNASSISTED: "NEBF", IRREGULAR_ELIMINATION: "XCBG",
              LATE_VERIFICATION: "HSCQ", SPOT_CHECK: "DHCC", DOUBTFUL: "YDSJ"}

BLUE, YELLOW, RED = "蓝单", "黄单", "红单"
OPEN, OVERDUE, CLOSED = "未整改", "逾期未整改", "已整改"
# 状态 in problems.csv (data contract section 3)
STATE_BLUE, STATE_YELLOW, STATE_RED, STATE_CLOSED = "蓝", "黄", "红", "已销号"
STATE_OF_COLOUR = {BLUE: STATE_BLUE, YELLOW: STATE_YELLOW, RED: STATE_RED, "": STATE_CLOSED}
# The escalation rule, worded once: the bulletin and the township lists print it.
ESCALATION = {
    BLUE: "本期新发现的问题，自通报之日起{days}日内整改到位并反馈整改情况",
    YELLOW: "超过整改期限仍未整改的问题，予以黄单催办",
    RED: "上期通报至本期通报仍未整改的问题，以及高风险户“应纳未纳”问题，予以红单挂牌督办",
}

COLUMNS = ["problem_id", "period", "problem_type", "township_code", "village_code", "household_id", "detail",
           "found_on", "deadline", "closed_on", "closing_note", "closed_known_on", "notified_on", "yellow_on",
           "red_on"]
# deadline: the deadline in force on the list's date; first_deadline: 通报日期 + rectification days;
# state: 蓝|黄|红|已销号; on_time: 是|否|None
LIST_COLUMNS = COLUMNS + ["status", "colour", "is_new", "state", "on_time", "first_deadline"]
_DATE_COLS = ("found_on", "deadline", "closed_on", "closed_known_on", "notified_on", "yellow_on", "red_on")
# problems.csv (data contract section 3)
CSV_NAME = "problems.csv"
CSV_COLUMNS = {"problem_id": "问题编号", "township_code": "乡镇代码", "household_id": "户编号",
               "problem_type": "问题类型", "found_on": "发现日期", "notified_on": "通报日期", "deadline": "整改期限",
               "state": "状态", "closed_on": "整改日期", "on_time": "是否按期整改"}
EARLY_RECTIFICATION = "整改日期：早于该问题的通报日期{notified}（问题编号{pid}），不能据此销号"


# ---- dates and wording ----------------------------------------------------------------------

def bulletin_date(period: Month | str) -> dt.date:
    """The default date of a period's bulletin: day problems.bulletin_day of the following month
    (the month's deliveries are in by the 5th). Never the wall clock."""
    return day_of_next_month(period, "problems.bulletin_day")


_default_bulletin_date = bulletin_date


def deadline_after(notice: dt.date) -> dt.date:
    """The rectification deadline of a bulletin (or red listing) dated `notice`."""
    return notice + dt.timedelta(days=int(param("problems.rectification_days", notice)))


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


def verification_problems(eng: Engine, period: Month | str, known_by: dt.date | None = None) -> pd.DataFrame:
    """应纳未纳 and 核实超期 for the pushes whose deadline falls in the period.

    A push of screening S goes out on pushed_on (the day the ingest of S actually ran) and must be verified
    by verify_by = pushed_on + problems.verification_days. Verifications are read from every
    monthly and weekly delivery arrived by `known_by` (default: the period's bulletin date;
    fangpin.feedback.read_feedback), dated on or after the push and not after the period's end; the
    earliest one counts. Households already monitored when screened are not asked to verify."""
    month = Month.parse(str(period))
    known_by = known_by or bulletin_date(month)
    pushes = _read_pushes(eng, month)
    pushes = pushes[~pushes["already_monitored"]]
    if pushes.empty:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    first = Month.of(pushes["pushed_on"].min().date())
    ver = read_feedback(eng, "verifications", first.start, month.end,
                        columns=["household_id", "verify_date", "conclusion"], known_by=known_by)
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


def spot_check_candidates(eng: Engine, period: Month | str, known_by: dt.date | None = None) -> pd.DataFrame:
    try:
        from fangpin.sample import spot_check_problems
    except ImportError:  # the spot-check stage is optional
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    df = spot_check_problems(eng, str(Month.parse(str(period))), known_by=known_by)
    if df.empty:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    fact = df["draw_period"] if "draw_period" in df else pd.Series(str(period), index=df.index)
    return df.assign(fact=fact.astype(str), found_on=pd.to_datetime(df["found_on"]))[CANDIDATE_COLUMNS]


def candidates(eng: Engine, period: Month | str, known_by: dt.date | None = None) -> pd.DataFrame:
    """Every problem the period's data show (before numbering and matching with stored problems),
    from the township feedback arrived by `known_by` (default: the period's bulletin date)."""
    from fangpin.audit import audit_problem_candidates

    known_by = known_by or bulletin_date(Month.parse(str(period)))
    parts = [verification_problems(eng, period, known_by), monitoring_problems(eng, period),
             spot_check_candidates(eng, period, known_by), audit_problem_candidates(eng, period)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["found_on"] = pd.to_datetime(out["found_on"]).dt.date
    return out


# ---- stored problems ------------------------------------------------------------------------------

def read_problems(eng: Engine, township_code: str | None = None) -> pd.DataFrame:
    """Every stored problem (or one township's), dates as datetime.date."""
    t = Problem.__table__
    query = select(t) if township_code is None else select(t).where(t.c.township_code == township_code)
    with eng.connect() as conn:
        df = pd.read_sql(query, conn)
    for c in _DATE_COLS:
        df[c] = pd.to_datetime(df[c]).dt.date.astype("object").where(df[c].notna(), None)
    df = df.reindex(columns=COLUMNS)
    # problems stored before 通报日期 was recorded: their period's calendar bulletin date
    missing = df["notified_on"].isna()
    if missing.any():
        df.loc[missing, "notified_on"] = [bulletin_date(p) for p in df.loc[missing, "period"]]
    return df


# ---- the state of a problem on a day --------------------------------------------------------------

def _bulletin_dates():
    """bulletin_date, memoised for one call of states / turned_yellow (a month's date is asked
    once per problem)."""
    cache: dict[Month, dt.date] = {}

    def bulletins(m: Month) -> dt.date:
        if m not in cache:
            cache[m] = bulletin_date(m)
        return cache[m]
    return bulletins


def _state(period: str, problem_type: str, notified_on: dt.date, closed_on: dt.date | None, as_of: dt.date,
           bulletins) -> tuple[str, dt.date, str | None, dt.date | None]:
    """(state, deadline in force, on_time, red since) of one problem on `as_of` (see the module
    docstring). `bulletins(month)` is the bulletin date of a month."""
    closed = closed_on is not None and closed_on <= as_of
    red_listings = [notified_on] if problem_type == SHOULD_MONITOR else []
    m = Month.parse(period).shift(1)
    while True:
        b = bulletins(m)
        if b > as_of or (closed_on is not None and closed_on <= b):
            break
        red_listings.append(b)
        m = m.shift(1)
    deadline = deadline_after(red_listings[-1] if red_listings else notified_on)
    red_since = red_listings[0] if red_listings else None
    if closed:
        return STATE_CLOSED, deadline, ("是" if closed_on <= deadline else "否"), red_since
    if red_listings:
        return STATE_RED, deadline, None, red_since
    return (STATE_YELLOW if as_of > deadline else STATE_BLUE), deadline, None, None


def as_known(problems: pd.DataFrame, as_of: dt.date, known_by: dt.date | None = None) -> pd.DataFrame:
    """`problems` on `as_of`, as a report dated `known_by` saw them (None: as known now): a closure
    dated after `as_of`, or whose rectification arrived after `known_by`, has not happened (整改日期
    and 整改情况 empty). Closures stored without their arrival day count as known."""
    def unknown(closed, known) -> bool:
        if closed is None or pd.isna(closed):
            return False
        return closed > as_of or (known_by is not None and known is not None and not pd.isna(known)
                                  and known > known_by)

    out = problems.copy()
    known_col = out["closed_known_on"] if "closed_known_on" in out else pd.Series(None, index=out.index, dtype=object)
    later = pd.Series([unknown(c, k) for c, k in zip(out["closed_on"], known_col)], index=out.index, dtype=bool)
    for c in ("closed_on", "closing_note", "closed_known_on"):
        if c in out:
            out[c] = out[c].astype("object").where(~later, None)
    return out


def states(problems: pd.DataFrame, as_of: dt.date, known_by: dt.date | None = None) -> pd.DataFrame:
    """`problems` (read_problems rows) with their state on `as_of` as known by `known_by` (None: as
    known now; see `as_known`): state (蓝|黄|红|已销号), deadline (in force that day), first_deadline
    (通报日期 + rectification days), on_time (是|否 once closed, else None), red_since, status
    (未整改 | 逾期未整改: open past its first deadline | 已整改) and colour (蓝单|黄单|红单, "" when
    closed)."""
    bulletins = _bulletin_dates()
    out = as_known(problems, as_of, known_by)
    rows = [_state(p, t, n, c, as_of, bulletins) for p, t, n, c in
            zip(out["period"], out["problem_type"], out["notified_on"], out["closed_on"])]
    out["state"] = [r[0] for r in rows]
    out["deadline"] = pd.Series([r[1] for r in rows], index=out.index, dtype="object")
    out["on_time"] = pd.Series([r[2] for r in rows], index=out.index, dtype="object")
    out["red_since"] = pd.Series([r[3] for r in rows], index=out.index, dtype="object")
    colour = {STATE_BLUE: BLUE, STATE_YELLOW: YELLOW, STATE_RED: RED, STATE_CLOSED: ""}
    out["colour"] = out["state"].map(colour)
    out["first_deadline"] = pd.Series([deadline_after(n) for n in out["notified_on"]], index=out.index, dtype="object")
    overdue = pd.Series([d < as_of for d in out["first_deadline"]], index=out.index, dtype=bool)
    out["status"] = np.select([out["state"] == STATE_CLOSED, overdue], [CLOSED, OVERDUE], OPEN)
    return out


# ---- rectifications ---------------------------------------------------------------------------------

def _normalise_ids(s: pd.Series) -> pd.Series:
    return s.astype(str).str.strip().str.upper()


def rectification_check(eng: Engine):
    """A row check for fangpin.validate (row_checks={"rectifications": ...}): the reason for each
    rectification dated before the 通报日期 of the problem it names (None when fine). Rows naming
    an unknown 问题编号 pass here; they are reported by `unknown_rectifications`."""
    known = read_problems(eng).set_index("problem_id")["notified_on"].to_dict()

    def check(rect: pd.DataFrame) -> pd.Series:
        ids = _normalise_ids(rect["problem_id"])
        notified = ids.map(known)
        when = pd.to_datetime(rect["rectify_date"]).dt.date
        early = [n is not None and not pd.isna(n) and d is not None and not pd.isna(d) and d < n
                 for n, d in zip(notified, when)]
        return pd.Series([EARLY_RECTIFICATION.format(notified=f"{n:%Y-%m-%d}", pid=i) if e else None
                          for e, n, i in zip(early, notified, ids)], index=rect.index, dtype="object")
    return check


def apply_rectifications(eng: Engine, first: dt.date | None = None, last: dt.date | None = None) -> pd.DataFrame:
    """Closes the stored problems named by the rectification rows dated in [first, last] (all
    deliveries, monthly and weekly): closed_on = the earliest 整改日期 on or after the problem's
    通报日期 (the copy that arrived first when several share it), closing_note = its 整改情况,
    closed_known_on = the day its delivery arrived; a problem closed earlier keeps its closure.
    Rows dated before the 通报日期 (quarantined at ingest) never close a problem. Returns the rows
    naming an unknown 问题编号 (reported, never accepted)."""
    rect = read_feedback(eng, "rectifications", first, last)
    if rect.empty:
        return rect.assign(reason=pd.Series(dtype="object"))
    rect = rect.assign(problem_id=_normalise_ids(rect["problem_id"]))
    stored = read_problems(eng).set_index("problem_id")
    unknown = rect[~rect["problem_id"].isin(stored.index)].assign(reason="问题编号不存在：未找到该编号的通报问题")
    known = rect[rect["problem_id"].isin(stored.index)].copy()
    known["notified_on"] = known["problem_id"].map(stored["notified_on"])
    valid = known[known["rectify_date"].dt.date >= known["notified_on"]]
    if len(valid) < len(known):
        log.warning("rectifications: %d rows dated before their problem's 通报日期 ignored", len(known) - len(valid))
    first_rows = (valid.sort_values(["rectify_date", "arrived_on", "period", "source_row"])
                  .drop_duplicates("problem_id"))
    current = stored[["closed_on", "closed_known_on"]].to_dict("index")

    def improves(pid, day, known) -> bool:
        c = current[pid]
        if c["closed_on"] is None or pd.isna(c["closed_on"]) or c["closed_on"] > day:
            return True
        return c["closed_on"] == day and (c["closed_known_on"] is None or pd.isna(c["closed_known_on"])
                                          or c["closed_known_on"] > known)

    to_close = first_rows[[improves(i, d.date(), k.date()) for i, d, k in
                           zip(first_rows["problem_id"], first_rows["rectify_date"], first_rows["arrived_on"])]]
    t = Problem.__table__
    with eng.begin() as conn:
        for r in to_close.itertuples(index=False):
            conn.execute(update(t).where(t.c.problem_id == r.problem_id)
                         .values(closed_on=r.rectify_date.date(), closing_note=r.description,
                                 closed_known_on=r.arrived_on.date()))
    if len(unknown):
        log.warning("rectifications: %d rows name an unknown 问题编号", len(unknown))
    log.info("rectifications: %d problems closed", len(to_close))
    return unknown.reset_index(drop=True)


def unknown_rectifications(eng: Engine, period: Month | str, known_by: dt.date | None = None) -> pd.DataFrame:
    """The rectification rows dated in the period (any delivery arrived by `known_by`, default the
    period's bulletin date) whose 问题编号 names no problem."""
    month = Month.parse(str(period))
    rect = read_feedback(eng, "rectifications", month.start, month.end, known_by=known_by or bulletin_date(month))
    ids = set(read_problems(eng)["problem_id"])
    rect = rect.assign(problem_id=_normalise_ids(rect["problem_id"]))
    return rect[~rect["problem_id"].isin(ids)].assign(reason="问题编号不存在：未找到该编号的通报问题").reset_index(drop=True)


# ---- the monthly bulletin ---------------------------------------------------------------------------

def derive_problems(eng: Engine, period: Month | str, bulletin_date: dt.date | None = None) -> pd.DataFrame:
    """Derives and stores the period's problems; returns the period's problem list (problem_list).

    1. rectifications (every delivery) close the problems they name;
    2. the period's candidates are numbered: a candidate whose number exists keeps that row (a
       closed one is not raised again); else a problem of the same type and household found in an
       earlier period and open at the bulletin continues (its number, dates and 通报日期 kept); else
       it is new: 通报日期 = the bulletin date, deadline = 通报日期 + problems.rectification_days;
    3. open problems first found in this period that the data no longer show are removed (a re-run
       after a corrected delivery), so re-running a period creates no duplicates;
    4. earlier problems open at the bulletin turn red: red_on (first time) and the new deadline
       are recorded (the state itself is always computed by `states`)."""
    month = Month.parse(str(period))
    p = str(month)
    bdate = bulletin_date or _default_bulletin_date(month)
    apply_rectifications(eng)
    cand = candidates(eng, month, known_by=bdate)
    stored = read_problems(eng)
    seen = as_known(stored, bdate, bdate)  # the closures known on the bulletin's day
    deadline = deadline_after(bdate)

    cand["problem_id"] = [problem_id(t, h, f) for t, h, f in zip(cand["problem_type"], cand["household_id"],
                                                                  cand["fact"])]
    cand = cand.drop_duplicates("problem_id")
    by_id = stored.set_index("problem_id")
    period_of = by_id["period"].to_dict()
    open_at = seen["closed_on"].isna()
    earlier_open = stored[(stored["period"] < p) & open_at]
    continuing = set(zip(earlier_open["problem_type"], earlier_open["household_id"]))
    exists_earlier = pd.Series([period_of.get(i, p) < p for i in cand["problem_id"]], index=cand.index, dtype=bool)
    cont = pd.Series([i not in period_of and k in continuing
                      for i, k in zip(cand["problem_id"], zip(cand["problem_type"], cand["household_id"]))],
                     index=cand.index, dtype=bool)
    new = cand[~exists_earlier & ~cont].copy()
    new["period"], new["deadline"], new["notified_on"] = p, deadline, bdate
    keep = by_id.reindex(new["problem_id"])
    for c in ("closed_on", "closing_note", "closed_known_on", "yellow_on"):
        new[c] = keep[c].to_numpy()
    new["red_on"] = np.where(new["problem_type"] == SHOULD_MONITOR, bdate, None)

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
        # earlier problems still open at this bulletin: red, with a new deadline
        for r in earlier_open.itertuples(index=False):
            values = {"deadline": max(r.deadline, deadline) if r.deadline else deadline}
            if r.red_on is None:
                values["red_on"] = bdate
            conn.execute(update(t).where(t.c.problem_id == r.problem_id).values(**values))
    log.info("problems %s: %d candidates, %d stored for the period, %d continued, %d stale removed, %d red",
             p, len(cand), len(new), int(cont.sum()), len(stale), len(earlier_open))
    return problem_list(eng, month, bdate)


def problem_list(eng: Engine, period: Month | str, bulletin_date: dt.date | None = None,
                 as_of: dt.date | None = None, known_by: dt.date | None = None,
                 township_code: str | None = None) -> pd.DataFrame:
    """The problems relevant to the period's bulletin, in their state on `as_of` (default: the
    bulletin date) as known by `known_by` (None: as known now; see `as_known`): problems found in the
    period; problems found earlier and still open on `as_of`; problems found earlier and rectified
    since the period began (销号). Problems not yet notified on `as_of` (通报日期 after it) are not
    listed.

    Columns: LIST_COLUMNS — state (蓝|黄|红|已销号), deadline (in force on `as_of`), on_time (是|否 when
    closed), status (未整改|逾期未整改|已整改), colour (红单|黄单|蓝单, "" when closed), is_new.
    Sorted by township, colour (红, 黄, 蓝, closed), type and number. `township_code`: that
    township's problems only (a township's problem list reads and dates only its own)."""
    month = Month.parse(str(period))
    p = str(month)
    bdate = bulletin_date or _default_bulletin_date(month)
    as_of = as_of or bdate
    df = read_problems(eng, township_code)
    df = as_known(df[(df["period"] <= p) & df["notified_on"].map(lambda d: d <= as_of).astype(bool)], as_of, known_by)
    closed_by = df["closed_on"].notna()
    closed_since = df["closed_on"].map(lambda d: d is not None and d >= month.start).astype(bool)
    relevant = (df["period"] == p) | (~closed_by | closed_since)
    out = states(df[relevant], as_of)
    out["is_new"] = out["period"] == p
    order = {RED: 0, YELLOW: 1, BLUE: 2, "": 3}
    out = out.assign(_c=out["colour"].map(order), _t=out["problem_type"].map(PROBLEM_TYPES.index))
    return out.sort_values(["township_code", "_c", "_t", "problem_id"], ignore_index=True)[LIST_COLUMNS]


# ---- problems.csv --------------------------------------------------------------------------------

def problems_frame(eng: Engine, period: Month | str, as_of: dt.date | None = None) -> pd.DataFrame:
    """problems.csv as a frame (data contract section 3): every problem open at, or closed
    during, the period, in its state on `as_of` (default: the period's bulletin date), every
    stored fact counted."""
    pl = problem_list(eng, period, as_of=as_of)
    out = pl.reindex(columns=list(CSV_COLUMNS)).copy()
    for c in ("found_on", "notified_on", "deadline", "closed_on"):
        out[c] = out[c].map(lambda d: f"{d:%Y-%m-%d}" if d is not None and not pd.isna(d) else "")
    out["on_time"] = out["on_time"].fillna("")
    out["household_id"] = out["household_id"].fillna("")
    return out.sort_values(["township_code", "problem_id"], ignore_index=True).rename(columns=CSV_COLUMNS)


def write_problems_csv(eng: Engine, period: Month | str, out_dir, as_of: dt.date | None = None):
    """OUT/problems.csv (UTF-8 with BOM); returns its path."""
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CSV_NAME
    problems_frame(eng, period, as_of).to_csv(path, index=False, encoding="utf-8-sig")
    return path


# ---- the weekly run: overdue problems turn 黄 --------------------------------------------------------

def turned_yellow(eng: Engine, first: dt.date, last: dt.date, known_by: dt.date | None = None) -> pd.DataFrame:
    """Problems that became 黄 between `first` and `last` (the days of a week): the day after their
    first deadline falls in the range and they were 黄 that day (not rectified by the deadline as
    known by `known_by`, default the weekly run's day after `last`; not red). A problem turns 黄 at
    most once (a red one never does). Returns them in their state on `last` (states())."""
    known_by = known_by or last + dt.timedelta(days=1)
    df = as_known(read_problems(eng), last, known_by)
    # Columns zipped (not iterrows: a Series per row) and each distinct 通报日期's deadline and each
    # month's bulletin date computed once: this runs on every weekly and monthly report.
    yellow_day: dict[dt.date, dt.date] = {}
    bulletin = _bulletin_dates()

    keep = []
    for i, period, kind, notified, closed in zip(df.index, df["period"], df["problem_type"], df["notified_on"],
                                                 df["closed_on"]):
        if kind == SHOULD_MONITOR:
            continue
        if notified not in yellow_day:
            yellow_day[notified] = deadline_after(notified) + dt.timedelta(days=1)
        day = yellow_day[notified]
        if first <= day <= last and _state(period, kind, notified, closed, day, bulletin)[0] == STATE_YELLOW:
            keep.append(i)
    return states(df.loc[keep], last, known_by).reset_index(drop=True)


def mark_overdue(eng: Engine, week_end: dt.date, known_by: dt.date | None = None) -> pd.DataFrame:
    """The weekly run: every problem 黄 on `week_end` (as known by `known_by`, default the run's day,
    the Monday after) not yet marked gets yellow_on = week_end. Returns the problems 黄 on that day
    (marked now or before)."""
    known_by = known_by or week_end + dt.timedelta(days=1)
    df = read_problems(eng)
    df = df[df["notified_on"].map(lambda d: d <= week_end).astype(bool)]
    st = states(df, week_end, known_by)
    yellow = st[st["state"] == STATE_YELLOW]
    t = Problem.__table__
    to_mark = yellow[yellow["yellow_on"].isna()]["problem_id"].tolist()
    with eng.begin() as conn:
        for i in range(0, len(to_mark), 500):
            conn.execute(update(t).where(t.c.problem_id.in_(to_mark[i:i + 500]), t.c.yellow_on.is_(None))
                         .values(yellow_on=week_end))
    log.info("problems on %s: %d 黄 (%d newly marked)", week_end, len(yellow), len(to_mark))
    return yellow.reset_index(drop=True)
