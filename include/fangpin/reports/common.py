"""Shared queries and figures of the leaders' reports (周统计、月通报、季调度、问题清单).

Everything here reads the monitoring database directly (SQLAlchemy Core / pandas.read_sql) and
aggregates per township with pandas groupby: no per-household loop reaches a template except
the problem lists. Every figure is computed from the period alone (never the wall clock), so
re-building a report for a period gives the same numbers.

Indicator definitions (also printed in the bulletin and in docs/reports.md):

- monitored households: households of the delivery with 农户类别 = 监测户;
- new entries: 监测户 whose 识别监测时间 is the month;
- risk eliminations: 监测户 with 风险是否已消除 = 是 and 消除监测时间 in the month;
- risk elimination rate: 监测户 with 风险是否已消除 = 是 / all 监测户, by households and by persons
  (persons = the members listed for those households in the members feed; a household without
  a member row counts its 家庭人口数);
- quarantined households: distinct 户编号 of households rows quarantined in validation and not
  accepted under another row, attributed to a township by their 行政区划代码 (shown beside 农户数,
  never silently missing);
- suspected: the month's screening results (新增疑似 / 持续疑似; high risk; 应纳未纳 = high risk and
  not already monitored);
- pushed: screening results whose push date falls in the month (the previous month's screening),
  households already monitored excluded (they are not pushed); their verification = the first
  核实日期 on or after the push, on time when not after 核实截止; 按期 + 逾期核实 + 逾期未核实 + 待核实
  = 推送;
- spot-check pass rate: passed / called (fangpin.sample.pass_rates);
- problems: fangpin.problems.problem_list (its colours and status) as of the bulletin date;
  rectification rate = listed problems due by then (整改期限 ≤ bulletin date) that are closed /
  those due;
- township data quality: accepted / delivered rows of the township's own feedback feeds
  (inspections, verifications, rectifications; quarantined rows attributed by 户编号 / 问题编号).
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, or_, select

from fangpin import feeds as F
from fangpin.ids import redact
from fangpin.params import param
from fangpin.periods import Month
from fangpin.store.db import read_feed
from fangpin.store.models import (FEED_TABLES, Problem, QuarantinedRow, ScreeningResult, SpotCheckDraw,
                                  ValidationRun)

log = logging.getLogger(__name__)

BLUE, YELLOW, RED = "蓝单", "黄单", "红单"
COLOURS = (RED, YELLOW, BLUE)
COLOUR_CLASS = {BLUE: "blue", YELLOW: "yellow", RED: "red"}
CLOSED, OPEN_OVERDUE, OPEN = "已整改", "逾期未整改", "未整改"  # as fangpin.problems words them
SHOULD_MONITOR = "应纳未纳"
V_ON_TIME, V_LATE, V_OVERDUE, V_PENDING = "按期核实", "逾期核实", "逾期未核实", "待核实"
TOWNSHIP_FEEDBACK = ("inspections", "verifications", "rectifications")
INDICATORS = {  # ranking indicator -> (column in the figures, Chinese name)
    "verification_timeliness": ("verification_timeliness", "核实及时率"),
    "rectification_rate": ("rectification_rate", "问题整改率"),
    "spot_check_pass_rate": ("spot_pass_rate", "电话抽查合格率"),
    "risk_elimination_rate": ("elimination_rate", "风险消除率"),
    "data_quality": ("data_quality", "乡镇数据质量"),
}
INDICATOR_DEFINITIONS = {
    "verification_timeliness": "本月推送的疑似风险户中，在核实截止日前完成入户核实的户数 ÷ 推送户数",
    "rectification_rate": "本期清单中整改期限已到的问题里已整改的个数 ÷ 整改期限已到的问题个数",
    "spot_check_pass_rate": "电话抽查中接通且信息一致、帮扶落实的户数 ÷ 已抽查户数",
    "risk_elimination_rate": "已标注风险消除的监测户 ÷ 全部监测户",
    "data_quality": "乡镇报送的日常排查、核实反馈、整改反馈中通过校验的行数 ÷ 报送行数",
}


class NoReportData(RuntimeError):
    """A report asked for a period without data to report on (empty, missing or held delivery, or
    no validation run): no PDF of zeros is ever built. The message is one line, Chinese + English."""


# ---- small helpers ---------------------------------------------------------------------------

def query(eng: Engine, stmt) -> pd.DataFrame:
    with eng.connect() as conn:
        return pd.read_sql(stmt, conn)


def to_dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce")


def ratio(num, den):
    """num / den as float, NaN where den is 0 (works on scalars and Series)."""
    if isinstance(den, pd.Series):
        return (num / den.where(den > 0)).astype("float64")
    return float(num) / den if den else float("nan")


def month_key(s: pd.Series) -> pd.Series:
    """'2026-10' / '202610' -> '202610' (None stays missing)."""
    return s.astype("string").str.replace("-", "", regex=False).str[:6]


def bulletin_date(month: Month) -> dt.date:
    """The day the bulletin of `month` is issued (fangpin.problems.bulletin_date, its one home)."""
    from fangpin.problems import bulletin_date as issued

    return issued(month)


def months_between(first: dt.date, last: dt.date) -> list[str]:
    m, end, out = Month.of(first), Month.of(last), []
    while m <= end:
        out.append(str(m))
        m = m.shift(1)
    return out


def read_feed_periods(eng: Engine, feed: str, periods: list[str], columns: list[str]) -> pd.DataFrame:
    """Rows of a feed over several deliveries (duplicates across deliveries kept)."""
    frames = [read_feed(eng, feed, p, columns=columns) for p in periods]
    frames = [f for f in frames if len(f)]
    if not frames:
        return read_feed(eng, feed, periods[0] if periods else "0000-00", columns=columns)
    return pd.concat(frames, ignore_index=True)


# ---- registry ------------------------------------------------------------------------------

def region_names(eng: Engine, month: Month) -> tuple[pd.Series, pd.Series]:
    """(township code -> name, village code -> name) from the month's regions feed."""
    r = read_feed(eng, "regions", str(month), columns=["code", "name", "level"])
    towns = r[r["level"] == "乡镇"].set_index("code")["name"].sort_index()
    villages = r[r["level"] == "村"].set_index("code")["name"].sort_index()
    return towns, villages


HH_COLUMNS = ["household_id", "village_code", "township_code", "head_name", "category", "identified_month",
              "risk_eliminated", "eliminated_month", "declared_size"]


def households(eng: Engine, month: Month, township_code: str | None = None) -> pd.DataFrame:
    """The month's households (HH_COLUMNS); only one township's when `township_code` is given."""
    where = {"township_code": township_code} if township_code is not None else None
    return read_feed(eng, "households", str(month), columns=HH_COLUMNS, where=where)


def townships(eng: Engine, month: Month, hh: pd.DataFrame | None = None) -> pd.Series:
    """Every township of the month (regions feed, plus any met in households): code -> name."""
    towns, _ = region_names(eng, month)
    codes = set(towns.index)
    if hh is not None and len(hh):
        codes |= set(hh["township_code"].dropna())
    return pd.Series({c: towns.get(c, c) for c in sorted(codes)}, dtype="object")


def has_data(eng: Engine, month: Month) -> bool:
    """Whether the month has a validated delivery with households and members (require_data passes)."""
    try:
        require_data(eng, month, "报告")
    except NoReportData:
        return False
    return True


def require_data(eng: Engine, month: Month, report: str, report_en: str = "report") -> None:
    """Raises NoReportData unless the month has a validated delivery with households and members.

    An empty, missing or held delivery (households or members absent or empty in the loaded
    period) or a period never validated stops the report: never a PDF of zeros, never an email."""
    from sqlalchemy import func

    missing = []
    with eng.connect() as conn:
        for feed, zh in (("households", "农户"), ("members", "家庭成员")):
            t = FEED_TABLES[feed]
            n = conn.execute(select(func.count()).select_from(t).where(t.c.period == str(month))).scalar()
            if not n:
                missing.append((feed, zh))
        v = ValidationRun.__table__
        runs = conn.execute(select(func.count()).select_from(v).where(
            and_(v.c.period == str(month), v.c.is_current.is_(True)))).scalar()
    if missing:
        raise NoReportData(
            f"{month.label}无{'、'.join(zh for _, zh in missing)}数据（交付为空、缺失或被暂缓），不生成{report} / "
            f"no {' or '.join(f for f, _ in missing)} loaded for {month}: no {report_en} is built from no data")
    if not runs:
        raise NoReportData(f"{month.label}的交付未经校验，不生成{report} / no validation run for {month}: "
                           f"no {report_en} is built from unvalidated data")


def persons_per_household(eng: Engine, month: Month, hh: pd.DataFrame) -> pd.Series:
    """household_id -> persons: members listed in the members feed, else its 家庭人口数."""
    mem = read_feed(eng, "members", str(month), columns=["household_id"])
    counts = mem.groupby("household_id").size()
    ids = hh.drop_duplicates("household_id").set_index("household_id")
    declared = pd.to_numeric(ids["declared_size"], errors="coerce").fillna(0).astype("int64")
    return counts.reindex(ids.index).fillna(declared).astype("int64")


def quarantined_households(eng: Engine, month: Month, hh: pd.DataFrame) -> pd.Series:
    """Per township: distinct 户编号 of households rows quarantined in the month's validation and
    not accepted under another row; key "" holds the rows whose 行政区划代码 names no township."""
    q = QuarantinedRow.__table__
    raw = query(eng, select(q.c.raw).where(and_(q.c.period == str(month), q.c.feed == "households")))
    accepted = set(hh["household_id"])
    seen: dict[str, str] = {}
    for r in raw["raw"]:
        r = r if isinstance(r, dict) else _json(r)
        hid = str(r.get("户编号", r.get("household_id", "")) or "").strip()
        if hid in accepted:
            continue
        code = re.sub(r"\D", "", str(r.get("行政区划代码", r.get("village_code", "")) or ""))
        key = hid or f"row{len(seen)}"
        seen.setdefault(key, code[:9] if len(code) >= 9 else "")
    return pd.Series(list(seen.values()), dtype="object").value_counts().rename("households_quarantined")


def registry_figures(hh: pd.DataFrame, month: Month, persons: pd.Series | None = None) -> pd.DataFrame:
    """Per township: households, monitored, new_entries, eliminated_total, eliminated_in_month,
    monitored_open, elimination_rate (households); with `persons` (household_id -> persons) also
    persons, monitored_persons, eliminated_persons, elimination_rate_persons."""
    key = f"{month.year:04d}{month.month:02d}"
    monitored = hh["category"] == F.CAT_MONITORED
    eliminated = monitored & (hh["risk_eliminated"] == "是")
    flags = pd.DataFrame({
        "township_code": hh["township_code"],
        "households": 1,
        "monitored": monitored.astype(int),
        "new_entries": (monitored & (month_key(hh["identified_month"]) == key).fillna(False)).astype(int),
        "eliminated_total": eliminated.astype(int),
        "eliminated_in_month": (eliminated & (month_key(hh["eliminated_month"]) == key).fillna(False)).astype(int),
    })
    if persons is not None:
        size = hh["household_id"].map(persons).fillna(0).astype("int64").to_numpy()
        flags["persons"] = size
        flags["monitored_persons"] = monitored.to_numpy() * size
        flags["eliminated_persons"] = eliminated.to_numpy() * size
    out = flags.groupby("township_code").sum()
    out["monitored_open"] = out["monitored"] - out["eliminated_total"]
    out["elimination_rate"] = ratio(out["eliminated_total"], out["monitored"])
    if persons is not None:
        out["elimination_rate_persons"] = ratio(out["eliminated_persons"], out["monitored_persons"])
    return out


# ---- screening, pushes and verification ------------------------------------------------------

def screening(eng: Engine, month: Month) -> pd.DataFrame:
    t = ScreeningResult.__table__
    df = query(eng, select(t).where(t.c.period == str(month)))
    df["already_monitored"] = df["already_monitored"].astype(bool)
    return df


def screening_figures(sr: pd.DataFrame) -> pd.DataFrame:
    """Per township: suspected, suspected_new, suspected_high, should_monitor (high risk, not monitored)."""
    high = sr["risk_level"] == "高"
    flags = pd.DataFrame({
        "township_code": sr["township_code"],
        "suspected": 1,
        "suspected_new": (sr["status"] == "新增疑似").astype(int),
        "suspected_high": high.astype(int),
        "should_monitor": (high & ~sr["already_monitored"].astype(bool)).astype(int),
    })
    return flags.groupby("township_code").sum()


def pushes(eng: Engine, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Screening results pushed to townships between two dates (inclusive). Households already
    monitored when screened are not pushed (nothing to verify), so they are not counted here."""
    t = ScreeningResult.__table__
    df = query(eng, select(t.c.period, t.c.household_id, t.c.township_code, t.c.village_code, t.c.risk_level,
                           t.c.already_monitored, t.c.pushed_on, t.c.verify_by)
               .where(and_(t.c.pushed_on >= first, t.c.pushed_on <= last)))
    df = df[~df["already_monitored"].astype(bool)].reset_index(drop=True)
    df["pushed_on"], df["verify_by"] = to_dates(df["pushed_on"]), to_dates(df["verify_by"])
    return df


def verification_status(eng: Engine, pushed: pd.DataFrame, as_of: dt.date, known_by: dt.date) -> pd.DataFrame:
    """`pushed` plus verified_on (first 核实日期 on/after the push and not after `as_of`, from the
    deliveries arrived by `known_by`, the report's date) and v_state: 按期核实 | 逾期核实 |
    逾期未核实 | 待核实 (as of `as_of`)."""
    out = pushed.copy()
    if out.empty:
        out["verified_on"], out["v_state"] = pd.Series(dtype="datetime64[ns]"), pd.Series(dtype="object")
        return out
    from fangpin.feedback import read_feedback

    v = read_feedback(eng, "verifications", out["pushed_on"].min().date(), as_of, ["household_id", "verify_date"],
                      known_by=known_by)
    cut = pd.Timestamp(as_of)
    m = out[["period", "household_id", "pushed_on"]].merge(v, on="household_id")
    m = m[(m["verify_date"] >= m["pushed_on"]) & (m["verify_date"] <= cut)]
    first = m.groupby(["period", "household_id"])["verify_date"].min().rename("verified_on")
    out = out.merge(first, left_on=["period", "household_id"], right_index=True, how="left")
    verified = out["verified_on"].notna()
    out["v_state"] = np.select(
        [verified & (out["verified_on"] <= out["verify_by"]), verified, out["verify_by"] < cut],
        [V_ON_TIME, V_LATE, V_OVERDUE], V_PENDING)
    return out


def verification_figures(status: pd.DataFrame) -> pd.DataFrame:
    """Per township: pushed, verified, verified_on_time, verified_late, overdue, pending,
    verification_timeliness (on time / pushed)."""
    s = status["v_state"]
    flags = pd.DataFrame({
        "township_code": status["township_code"],
        "pushed": 1,
        "verified": s.isin([V_ON_TIME, V_LATE]).astype(int),
        "verified_on_time": (s == V_ON_TIME).astype(int),
        "verified_late": (s == V_LATE).astype(int),
        "overdue": (s == V_OVERDUE).astype(int),
        "pending": (s == V_PENDING).astype(int),
    })
    out = flags.groupby("township_code").sum()
    out["verification_timeliness"] = ratio(out["verified_on_time"], out["pushed"])
    return out


# ---- spot checks -------------------------------------------------------------------------------

def spot_check_figures(eng: Engine, month: Month) -> pd.DataFrame:
    """Per township: spot_drawn, spot_called, spot_answered, spot_passed, spot_pass_rate."""
    try:
        from fangpin.sample import pass_rates
    except ImportError:  # pragma: no cover - the sample stage ships with the package
        pass_rates = _pass_rates_fallback
    pr = pass_rates(eng, str(month)).set_index("township_code")
    out = pr[["drawn", "called", "answered", "passed"]].add_prefix("spot_")
    out["spot_pass_rate"] = ratio(out["spot_passed"], out["spot_called"])
    return out


def _pass_rates_fallback(eng: Engine, period: str) -> pd.DataFrame:  # pragma: no cover
    res = read_feed(eng, "spot_check_results", period)
    hh = read_feed(eng, "households", period, columns=["household_id", "township_code"])
    t = SpotCheckDraw.__table__
    drawn = query(eng, select(t.c.township_code).where(t.c.period == period)).groupby("township_code").size()
    res = res.drop_duplicates("household_id", keep="last").merge(hh, on="household_id")
    res["a"], res["p"] = res["answered"] == "是", (res[["answered", "consistent", "assisted"]] == "是").all(axis=1)
    g = res.groupby("township_code")
    return pd.DataFrame({"drawn": drawn, "called": g.size(), "answered": g["a"].sum(), "passed": g["p"].sum()}
                        ).fillna(0).astype(int).rename_axis("township_code").reset_index()


# ---- problems and the blue / yellow / red lists ----------------------------------------------

def rectification_days(on: dt.date) -> int:
    return int(param("problems.rectification_days", on))


def escalation_rules(on: dt.date) -> list[str]:
    """The escalation rules printed in the reports, worded by fangpin.problems."""
    from fangpin.problems import escalation_rules as rules

    return [f"{colour}：{text}" for colour, text in rules(on).items()]


PROBLEM_COLUMNS = ["problem_id", "period", "problem_type", "township_code", "village_code", "household_id",
                   "detail", "found_on", "deadline", "closed_on", "notified_on", "state", "on_time", "first_deadline"]


def problem_list(eng: Engine, month: Month, as_of: dt.date | None = None,
                 township_code: str | None = None) -> pd.DataFrame:
    """The problems a bulletin lists, in their state as of `as_of` (default: the bulletin date) as
    known that day (closures whose rectification arrived later not shown):
    fangpin.problems.problem_list (the only home of a problem's state), with dates as Timestamps
    and details redacted. `deadline` is the deadline in force on `as_of` (a red problem's new one);
    `first_deadline` the one its bulletin set (通报日期 + 3 days). `township_code`: one township's."""
    from fangpin.problems import problem_list as stored_list

    as_of = as_of or bulletin_date(month)
    df = stored_list(eng, str(month), as_of=as_of, known_by=as_of, township_code=township_code)
    df = df.reindex(columns=[*PROBLEM_COLUMNS, "status", "colour"])
    for c in ("found_on", "deadline", "closed_on", "notified_on", "first_deadline"):
        df[c] = to_dates(df[c])
    df["colour"] = df["colour"].fillna("").astype(str)
    df["detail"] = df["detail"].map(lambda s: redact(s) if isinstance(s, str) else "")
    order = {RED: 0, YELLOW: 1, BLUE: 2, "": 3}
    return (df.assign(_c=df["colour"].map(order)).sort_values(["township_code", "_c", "problem_id"])
            .drop(columns="_c").reset_index(drop=True))


def problem_figures(pl: pd.DataFrame, month: Month, as_of: dt.date) -> pd.DataFrame:
    """Per township: problems_listed, problems_new, problems_due (first deadline ≤ cut-off),
    problems_due_closed, problems_closed, problems_open, problems_overdue, rectification_rate
    (closed among due), blue, yellow, red."""
    cut = pd.Timestamp(as_of)
    closed = pl["closed_on"].notna() & (pl["closed_on"] <= cut)
    due = pl["first_deadline"] <= cut
    flags = pd.DataFrame({
        "township_code": pl["township_code"],
        "problems_listed": 1,
        "problems_new": (pl["period"] == str(month)).astype(int),
        "problems_due": due.astype(int),
        "problems_due_closed": (due & closed).astype(int),
        "problems_closed": closed.astype(int),
        "problems_open": (~closed).astype(int),
        "problems_overdue": (~closed & (pl["first_deadline"] < cut)).astype(int),
        "blue": (pl["colour"] == BLUE).astype(int),
        "yellow": (pl["colour"] == YELLOW).astype(int),
        "red": (pl["colour"] == RED).astype(int),
    })
    out = flags.groupby("township_code").sum()
    out["rectification_rate"] = ratio(out["problems_due_closed"], out["problems_due"])
    return out


def decorate_problems(pl: pd.DataFrame, hh: pd.DataFrame, towns: pd.Series, villages: pd.Series) -> list[dict]:
    """Problem rows for a template: names (household head only, never an ID or phone)."""
    names = hh.drop_duplicates("household_id").set_index("household_id")["head_name"]
    rows = pl.assign(
        head_name=pl["household_id"].map(names),
        village_name=pl["village_code"].map(villages),
        township_name=pl["township_code"].map(towns),
        colour_class=pl["colour"].map(COLOUR_CLASS).fillna(""),
    )
    out = []
    for r in rows.itertuples(index=False):
        out.append({
            "problem_id": r.problem_id, "township_code": r.township_code,
            "township_name": r.township_name if isinstance(r.township_name, str) else r.township_code,
            "village_name": r.village_name if isinstance(r.village_name, str) else (r.village_code or "—"),
            "head_name": r.head_name if isinstance(r.head_name, str) else "—",
            "problem_type": r.problem_type, "detail": r.detail,
            "found_on": _date(r.found_on), "deadline": _date(r.deadline), "closed_on": _date(r.closed_on),
            "status": r.status, "colour": r.colour, "colour_class": r.colour_class,
        })
    return out


def _date(v) -> dt.date | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).date()


# ---- data quality ------------------------------------------------------------------------------

def cycle_deliveries(eng: Engine, month: Month, feeds: tuple[str, ...] | None = None) -> list[str]:
    """The feedback deliveries (monthly and weekly) of month's bulletin cycle: those that arrived
    since the previous bulletin and by this one, so each delivery counts in exactly one bulletin
    (fangpin.feedback.deliveries_arrived; `feeds` default: the four weekly feedback feeds)."""
    from fangpin.feedback import FEEDBACK_FEEDS, deliveries_arrived

    return deliveries_arrived(eng, bulletin_date(month.shift(-1)), bulletin_date(month), feeds or FEEDBACK_FEEDS)


def department_quality(eng: Engine, month: Month) -> list[dict]:
    """One row per feed: department, delivered or not, rows, quarantine rate (current validation
    runs). A township feedback feed counts every delivery of the cycle, the month's and the weekly
    drops that arrived since the previous bulletin and by this one (`deliveries`)."""
    t = ValidationRun.__table__
    periods = sorted({str(month), *cycle_deliveries(eng, month)})
    runs = query(eng, select(t).where(and_(t.c.period.in_(periods), t.c.is_current.is_(True))))
    runs = runs.sort_values("validated_at").drop_duplicates(["period", "feed"], keep="last")
    order = [*F.DEPARTMENT_FEEDS, *[n for n, f in F.FEEDS.items() if f.core],
             *[n for n, f in F.FEEDS.items() if f.feedback]]
    rows = []
    for name in order:
        feed = F.FEEDS[name]
        own = periods if feed.feedback else [str(month)]
        r = runs[(runs["feed"] == name) & runs["period"].isin(own)]
        total = acc = quar = unm = 0
        statuses = []
        for p in own:
            run = r[r["period"] == p]
            if len(run):
                run = run.iloc[0]
                total += int(run["rows_total"]); acc += int(run["rows_accepted"])  # noqa: E702
                quar += int(run["rows_quarantined"]); unm += int(run["rows_unmatched"])  # noqa: E702
                statuses.append(run["status"])
            else:
                n = _count_rows(eng, name, p)
                total += n; acc += n  # noqa: E702
                statuses.append("未提供" if n == 0 else "已入库（无校验记录）")
        status = _combined_status(statuses)
        rows.append({
            "feed": name, "department": feed.department, "label": feed.label,
            "group": "部门" if name in F.DEPARTMENT_FEEDS else ("基础" if feed.core else "反馈"),
            "status": status, "delivered": status not in ("未提供", "拒收"),
            "rows_total": total, "rows_accepted": acc, "rows_quarantined": quar, "rows_unmatched": unm,
            "quarantine_rate": ratio(quar, total),
            "deliveries": [p for p, st in zip(own, statuses) if st != "未提供"],
        })
    return rows


def _combined_status(statuses: list[str]) -> str:
    """One status for a feed over several deliveries: the delivered ones decide (有隔离 if any
    quarantined, 拒收 if all rejected, 已入库（无校验记录） when none was validated), else 未提供."""
    given = [s for s in statuses if s != "未提供"]
    if not given:
        return "未提供"
    for status in ("有隔离", "通过", "已入库（无校验记录）"):
        if status in given:
            return status
    return given[0]


def _count_rows(eng: Engine, feed: str, month: Month) -> int:
    from sqlalchemy import func

    t = FEED_TABLES[feed]
    with eng.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t).where(t.c.period == str(month))).scalar())


def township_data_quality(eng: Engine, month: Month, hh: pd.DataFrame) -> pd.Series:
    """Per township: accepted / (accepted + quarantined) rows of its own feedback feeds, over the
    deliveries (monthly and weekly) that arrived since the previous bulletin and by this one
    (cycle_deliveries)."""
    periods = cycle_deliveries(eng, month, TOWNSHIP_FEEDBACK)
    where = hh.drop_duplicates("household_id").set_index("household_id")["township_code"]
    t = Problem.__table__
    prob_town = query(eng, select(t.c.problem_id, t.c.township_code)).set_index("problem_id")["township_code"]
    accepted = []
    for feed in TOWNSHIP_FEEDBACK:
        key = "problem_id" if feed == "rectifications" else "household_id"
        for period in periods:
            rows = read_feed(eng, feed, period, columns=[key])
            ids = rows[key].astype(str).str.strip().str.upper() if key == "problem_id" else rows[key]
            accepted.append((prob_town if key == "problem_id" else where).reindex(ids).dropna())
    acc = pd.concat(accepted).value_counts() if accepted else pd.Series(dtype="int64")

    q = QuarantinedRow.__table__
    raw = query(eng, select(q.c.feed, q.c.raw).where(and_(q.c.period.in_(periods),
                                                          q.c.feed.in_(TOWNSHIP_FEEDBACK))))
    towns = []
    for feed, r in zip(raw["feed"], raw["raw"]):
        r = r if isinstance(r, dict) else _json(r)
        if feed == "rectifications":
            towns.append(prob_town.get(str(r.get("问题编号", r.get("problem_id", ""))).strip().upper()))
        else:
            towns.append(where.get(str(r.get("户编号", r.get("household_id", ""))).strip()))
    quar = pd.Series([x for x in towns if isinstance(x, str)], dtype="object").value_counts()
    both = pd.DataFrame({"acc": acc, "quar": quar}).fillna(0)
    return ratio(both["acc"], both["acc"] + both["quar"]).rename("data_quality")


def _json(v) -> dict:
    import json

    try:
        return json.loads(v) if isinstance(v, str) else {}
    except ValueError:
        return {}


# ---- ranking -----------------------------------------------------------------------------------

def ranking_weights(on: dt.date) -> dict[str, float]:
    w = param("ranking.weights", on)
    unknown = set(w) - set(INDICATORS)
    if unknown:
        raise ValueError(f"ranking.weights: unknown indicators {sorted(unknown)}")
    return {k: float(v) for k, v in w.items()}


def rank_townships(fig: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """Adds score (0–100), rank, missing (the Chinese names of the indicators without data,
    joined by 、) and missing_count to per-township figures.

    score = 100 × Σ wᵢ·xᵢ / Σ wᵢ over the FULL weight set: an indicator with no data this month
    (e.g. no household pushed, nothing called) contributes 0 and is shown as missing, so every
    township's score is on the same scale, month after month (never reweighted over the
    indicators it happens to have). Rank 1 = best; equal scores (to 0.01) share a rank."""
    out = fig.copy()
    num = pd.Series(0.0, index=out.index)
    missing = pd.Series([[] for _ in range(len(out))], index=out.index, dtype="object")
    total = sum(weights.values())
    for key, w in weights.items():
        col = INDICATORS[key][0]
        x = out[col].astype("float64") if col in out else pd.Series(np.nan, index=out.index)
        num += (x * w).fillna(0.0)
        for i in x.index[x.isna()]:
            missing[i] = [*missing[i], INDICATORS[key][1]]
    out["score"] = (100 * num / total).round(2) if total > 0 else np.nan
    out["missing"] = missing.map("、".join)
    out["missing_count"] = missing.map(len).astype("int64")
    out["rank"] = out["score"].rank(method="min", ascending=False).astype("Int64")
    return out.sort_values(["rank", "township_code"] if "township_code" in out else ["rank"])


def method_rows(weights: dict[str, float]) -> list[dict]:
    total = sum(weights.values()) or 1.0
    return [{"key": k, "column": INDICATORS[k][0], "name": INDICATORS[k][1], "weight": w / total,
             "definition": INDICATOR_DEFINITIONS[k]}
            for k, w in weights.items()]


# ---- one month, all figures ------------------------------------------------------------------

def month_figures(eng: Engine, month: Month) -> dict:
    """Every per-township figure of a month (what the bulletin and the quarterly materials use).

    Verifications are judged as of the month's end, problems and their colours as of the bulletin
    date, both from the township feedback arrived by the bulletin date (what is known when). Returns {'towns', 'villages', 'households' (frame),
    'table' (DataFrame per township incl. score and rank), 'total' (county row, dict), 'problems',
    'pushes', 'screening' (frames), 'weights', 'as_of', 'bulletin_date'}."""
    as_of, issued = month.end, bulletin_date(month)
    hh = households(eng, month)
    towns = townships(eng, month, hh)
    _, villages = region_names(eng, month)
    sr = screening(eng, month)
    pushed = verification_status(eng, pushes(eng, month.start, month.end), as_of, issued)
    pl = problem_list(eng, month, issued)
    quarantined = quarantined_households(eng, month, hh)
    parts = [
        registry_figures(hh, month, persons_per_household(eng, month, hh)), screening_figures(sr),
        verification_figures(pushed), spot_check_figures(eng, month), problem_figures(pl, month, issued),
        quarantined[quarantined.index.isin(towns.index)].to_frame(),
        pl.assign(should_monitor_listed=(pl["problem_type"] == SHOULD_MONITOR).astype(int))
          .groupby("township_code")[["should_monitor_listed"]].sum(),
    ]
    table = pd.DataFrame(index=pd.Index(towns.index, name="township_code"))
    for p in parts:
        table = table.join(p, how="left")
    table = table.join(township_data_quality(eng, month, hh), how="left")
    rate_cols = [c for c in table.columns if c.endswith("_rate") or c.endswith("_rate_persons")
                 or c in ("verification_timeliness", "data_quality")]
    counts = [c for c in table.columns if c not in rate_cols]
    table[counts] = table[counts].fillna(0).astype("int64")
    table["households_with_quarantined"] = table["households"] + table["households_quarantined"]
    counts.append("households_with_quarantined")
    weights = ranking_weights(month.end)
    table = rank_townships(table.reset_index(), weights).set_index("township_code")
    table.insert(0, "township_name", table.index.map(towns))
    total = {c: int(table[c].sum()) for c in counts}
    # quarantined households rows naming no known township still count in the county total
    unattributed = int(quarantined[~quarantined.index.isin(towns.index)].sum())
    total["households_quarantined_unattributed"] = unattributed
    total["households_quarantined"] += unattributed
    total["households_with_quarantined"] += unattributed
    total.update(
        elimination_rate_persons=ratio(total["eliminated_persons"], total["monitored_persons"]),
        elimination_rate=ratio(total["eliminated_total"], total["monitored"]),
        verification_timeliness=ratio(total["verified_on_time"], total["pushed"]),
        spot_pass_rate=ratio(total["spot_passed"], total["spot_called"]),
        rectification_rate=ratio(total["problems_due_closed"], total["problems_due"]),
    )
    total = {k: clean(v) for k, v in total.items()}
    return {"towns": towns, "villages": villages, "households": hh, "table": table, "total": total,
            "problems": pl, "pushes": pushed, "screening": sr, "weights": weights, "as_of": as_of,
            "bulletin_date": issued}


def clean(v):
    """A template value: NaN/NA -> None, numpy scalars -> Python."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        return v
    return v.item() if hasattr(v, "item") else v


def records(table: pd.DataFrame) -> list[dict]:
    """A per-township frame as template rows (NaN -> None, numpy scalars -> Python)."""
    df = table.reset_index()
    df = df.astype(object).where(df.notna(), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in df.to_dict("records")]


def safe_name(text: str) -> str:
    """A file-name-safe version of a Chinese name (keeps CJK, letters, digits, _ - .)."""
    return re.sub(r"[^\w\-.年月第季度周]+", "_", text).strip("_")
