"""The living demo county: townships that react to what the system sent them.

    generate_month(data_root, period, eng, households=2000, seed=1) -> <data_root>/<period>/
    generate_week(data_root, week, eng, seed=1, households=None)    -> <data_root>/weekly/<YYYY-Www>/

`generate_month` writes month M's department delivery (the nine department feeds, no township
feedback) of the same county every month (same seed: same households, members and ID numbers),
with a registry that evolves from what happened before:
- households a township verified as 纳入监测 become 监测户, identified in the month of the
  verification; almost a third of them get no assistance measure in their first month (纳而不扶),
  a few not in the second month either; a few long-monitored households lose theirs for a month;
- monitored households are eliminated over time (after at least the minimum months; a few a
  month are scheduled, so every month has 拟消除 decisions); some newly identified ones are
  eliminated too soon, and some with an income below the threshold (消除不规范);
- the county's reviewers answer the decision-review draws made during the month
  (review_results: mostly 认定准确).

`generate_week` writes the township feedback of one Monday–Sunday week: inspections (daily
visits), verifications of the households pushed to them, the phone spot-check's call results
and rectifications of the problems listed in a bulletin — each only once the system had sent
what it reacts to, and dated in the week. What each township does with each push, problem
and drawn household is decided once, from a hash of the seed and the item (so every week and
every re-run agrees, whatever order the weeks are generated in):
- a push is verified on time (by its 核实截止日期) by most, late by some, never by a few;
- a problem is rectified within its 整改期限 by most, late by some, never by a few;
- every drawn household is called on or after the draw; a call or two per month goes to a
  household that was not drawn;
- townships differ: some are laxer than others (more late and never).
About 1.5 % of the rows carry a realistic defect (the same as in a monthly delivery), so
quarantine keeps appearing.

Everything read from the monitoring database goes through the readers below
(`sent_pushes`, `issued_problems`, `drawn_households` for the weeks; `review_draws` for the
monthly delivery's review_results): the one place to adapt if the system's tables change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, inspect, text

from fangpin import feeds as F
from fangpin import reasons as R
from fangpin.config import settings
from fangpin.generate import feedback, write
from fangpin.generate import names as N
from fangpin.generate.build import KEY_DIR, build_delivery
from fangpin.generate.county import build_county
from fangpin.generate.defects import FEEDBACK_DEFECTS
from fangpin.params import param
from fangpin.periods import Month, Week

WEEKLY_DIR = "weekly"
ORIGIN = Month(2026, 1)          # the living county's registry starts changing from this month

# townships' behaviour (shares; a township's laxness t in [0, 1) adds the second figure x t)
VERIFY_NEVER, VERIFY_LATE = (0.03, 0.07), (0.06, 0.16)
RECTIFY_NEVER, RECTIFY_LATE = (0.04, 0.10), (0.10, 0.20)
LATE_DAYS_VERIFY, LATE_DAYS_RECTIFY = 21, 30      # how late "late" can be
CALL_DAYS = 21                                    # calls spread over the three weeks after the draw
CONCLUSIONS = {  # 风险等级 -> P(纳入监测, 持续关注, 排除)
    "高": (0.40, 0.35, 0.25), "中": (0.20, 0.45, 0.35), "低": (0.08, 0.42, 0.50)}
FIRST_MONTH_UNASSISTED, SECOND_MONTH_UNASSISTED = 0.3, 0.1    # newly identified, measures = 0
MONTHLY_UNASSISTED = 0.02        # a monitored household without measures for a month
ELIMINATION_HAZARD = 0.03        # per month, once eligible
SCHEDULED_PER_1000 = 1           # and at least this many a month per 1,000 households (Evolution._schedule)
TOO_SOON, POOR_ELIMINATION = 0.2, 0.5
DEFECT_RATE = 0.015
WEEKLY_VISITS = 0.06             # share of households visited in a week (~25 % a month)


# ---- what the system sent (the only code that reads the monitoring database) ----------------

def _has(eng: Engine, table: str) -> bool:
    return inspect(eng).has_table(table)


def _dates(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for c in cols:
        df[c] = pd.to_datetime(df[c]).dt.date.astype("object").where(df[c].notna(), None)
    return df


def sent_pushes(eng: Engine, until: dt.date) -> pd.DataFrame:
    """Suspected households pushed to a township to verify, sent on or before `until`:
    period, household_id, township_code, risk_level, pushed_on, verify_by (already monitored
    households are not asked to verify)."""
    cols = ["period", "household_id", "township_code", "risk_level", "pushed_on", "verify_by"]
    if not _has(eng, "screening_results"):
        return pd.DataFrame(columns=cols)
    with eng.connect() as c:
        df = pd.read_sql(text("SELECT period, household_id, township_code, risk_level, already_monitored, "
                              "pushed_on, verify_by FROM screening_results"), c)
    df = _dates(df, "pushed_on", "verify_by")
    df = df[~df["already_monitored"].astype(bool) & df["pushed_on"].notna()]
    df = df[df["pushed_on"] <= until]
    return df[cols].sort_values(["period", "household_id"], ignore_index=True)


def bulletin_day(period: str) -> dt.date:
    """The 通报日期 of a period's bulletin (fangpin.problems.bulletin_date, its one home)."""
    from fangpin.problems import bulletin_date

    return bulletin_date(period)


def issued_problems(eng: Engine, until: dt.date) -> pd.DataFrame:
    """Problems of bulletins issued on or before `until`: problem_id, period, problem_type,
    township_code, household_id, issued_on (its 通报日期 as stored), deadline (as stored now),
    closed_on."""
    cols = ["problem_id", "period", "problem_type", "township_code", "household_id", "issued_on", "deadline",
            "closed_on"]
    if not _has(eng, "problems"):
        return pd.DataFrame(columns=cols)
    with eng.connect() as c:
        df = pd.read_sql(text("SELECT problem_id, period, problem_type, township_code, household_id, found_on, "
                              "deadline, closed_on, notified_on FROM problems"), c)
    df = _dates(df, "found_on", "deadline", "closed_on", "notified_on")
    df["issued_on"] = [n if n is not None else bulletin_day(p) for n, p in zip(df["notified_on"], df["period"])]
    df = df[df["issued_on"] <= until]
    return df[cols].sort_values("problem_id", ignore_index=True)


def drawn_households(eng: Engine, until: dt.date) -> pd.DataFrame:
    """Households drawn for the phone spot-check, drawn on or before `until`: period,
    household_id, township_code, drawn_on (the draw's recorded date)."""
    cols = ["period", "household_id", "township_code", "drawn_on"]
    if not _has(eng, "spot_check_draws"):
        return pd.DataFrame(columns=cols)
    with eng.connect() as c:
        df = pd.read_sql(text("SELECT period, household_id, township_code, drawn_at FROM spot_check_draws"), c)
    df["drawn_on"] = pd.to_datetime(df["drawn_at"]).dt.date
    df = df[df["drawn_on"] <= until]
    return df[cols].sort_values(["period", "household_id"], ignore_index=True)


def review_draws(eng: Engine, until: dt.date) -> pd.DataFrame:
    """Households drawn for the county's sample review of decisions (fangpin.review), drawn on or
    before `until`: period, household_id, drawn_on (one row per household and period, even when
    it was drawn under both decisions)."""
    cols = ["period", "household_id", "drawn_on"]
    if not _has(eng, "decision_review_draws"):
        return pd.DataFrame(columns=cols)
    with eng.connect() as c:
        df = pd.read_sql(text("SELECT period, household_id, drawn_on FROM decision_review_draws"), c)
    df["drawn_on"] = pd.to_datetime(df["drawn_on"]).dt.date
    df = df[np.array([d <= until for d in df["drawn_on"]], dtype=bool)]
    return df[cols].drop_duplicates(["period", "household_id"]).sort_values(["period", "household_id"],
                                                                              ignore_index=True)


# ---- what the townships do with it (pure functions of the seed and the item) -----------------

def _u(seed: int, *key) -> float:
    """A uniform number in [0, 1) fixed by the seed and the key."""
    digest = hashlib.blake2b("|".join(str(k) for k in (seed, *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def laxness(seed: int, township_code: str) -> float:
    """How lax a township is, in [0, 1): most are diligent, a few are not."""
    return _u(seed, "lax", township_code) ** 2


def _behaviour(seed: int, kind: str, key: str, township: str, never: tuple, late: tuple) -> str:
    t = laxness(seed, township)
    u = _u(seed, kind, key)
    p_never, p_late = never[0] + never[1] * t, late[0] + late[1] * t
    return "never" if u < p_never else "late" if u < p_never + p_late else "on_time"


def verification_plan(pushes: pd.DataFrame, seed: int) -> pd.DataFrame:
    """What the townships do with each push: behaviour (on_time | late | never), verify_date
    (None when never) and conclusion."""
    rows = []
    for r in pushes.itertuples(index=False):
        key = f"{r.period}|{r.household_id}"
        how = _behaviour(seed, "verify", key, r.township_code, VERIFY_NEVER, VERIFY_LATE)
        window = max((r.verify_by - r.pushed_on).days, 0)
        u = _u(seed, "verify-day", key)
        if how == "on_time":
            day = r.pushed_on + dt.timedelta(days=int(u ** 1.3 * (window + 1)))
        elif how == "late":
            day = r.verify_by + dt.timedelta(days=1 + int(u * LATE_DAYS_VERIFY))
        else:
            day = None
        p = CONCLUSIONS.get(r.risk_level, CONCLUSIONS["低"])
        c = _u(seed, "conclusion", key)
        conclusion = "纳入监测" if c < p[0] else "持续关注" if c < p[0] + p[1] else "排除"
        rows.append((r.period, r.household_id, r.township_code, r.pushed_on, r.verify_by, how, day, conclusion))
    return pd.DataFrame(rows, columns=["period", "household_id", "township_code", "pushed_on", "verify_by",
                                       "behaviour", "verify_date", "conclusion"])


def rectification_plan(problems: pd.DataFrame, seed: int) -> pd.DataFrame:
    """What the townships do with each problem: behaviour (on_time | late | never) and
    rectify_date (None when never), from the bulletin's 通报日期 and 整改期限."""
    rows, days_on = [], {}
    for r in problems.itertuples(index=False):
        if r.issued_on not in days_on:
            days_on[r.issued_on] = int(param("problems.rectification_days", r.issued_on))
        days = days_on[r.issued_on]
        how = _behaviour(seed, "rectify", r.problem_id, r.township_code, RECTIFY_NEVER, RECTIFY_LATE)
        u = _u(seed, "rectify-day", r.problem_id)
        if how == "on_time":
            day = r.issued_on + dt.timedelta(days=int(u * (days + 1)))
        elif how == "late":
            day = r.issued_on + dt.timedelta(days=days + 1 + int(u * LATE_DAYS_RECTIFY))
        else:
            day = None
        rows.append((r.problem_id, r.township_code, r.issued_on, r.issued_on + dt.timedelta(days=days), how, day))
    return pd.DataFrame(rows, columns=["problem_id", "township_code", "issued_on", "due", "behaviour",
                                       "rectify_date"])


def call_plan(draws: pd.DataFrame, county_hh: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The spot-check calls: every drawn household on or after its draw, plus one or two calls
    per draw to 一般农户 that were not drawn. Columns: period, household_id, drawn (bool),
    check_date, answered, consistent, assisted, remark."""
    rows = []
    general = county_hh.loc[county_hh["cat"] == 2, "household_id"].tolist()
    for period, group in draws.groupby("period", sort=True):
        drawn_on = min(group["drawn_on"])
        for r in group.itertuples(index=False):
            rows.append((period, r.household_id, True, r.drawn_on))
        taken = set(group["household_id"])
        extra = 1 + int(_u(seed, "extra-calls", period) < 0.5)
        ranked = sorted((h for h in general if h not in taken), key=lambda h: _u(seed, "extra", period, h))
        rows += [(period, h, False, drawn_on) for h in ranked[:extra]]
    out = []
    for period, hid, drawn, since in rows:
        key = f"{period}|{hid}"
        day = since + dt.timedelta(days=int(_u(seed, "call-day", key) * CALL_DAYS))
        answered = _u(seed, "answered", key) < 0.93
        consistent = answered and _u(seed, "consistent", key) < 0.95
        assisted = answered and _u(seed, "assisted", key) < 0.95
        remark = ("" if answered and consistent and assisted else N.SPOT_CHECK_REMARKS_NO[
            "answered" if not answered else "consistent" if not consistent else "assisted"])
        out.append((period, hid, drawn, day, answered, consistent, assisted, remark))
    return pd.DataFrame(out, columns=["period", "household_id", "drawn", "check_date", "answered", "consistent",
                                      "assisted", "remark"])


# ---- the registry month after month -----------------------------------------------------------

def _index(m: Month) -> int:
    return m.year * 12 + m.month - 1


def _month_text(i: int) -> str:
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def _parse_index(text_value) -> int | None:
    if not isinstance(text_value, str) or len(text_value) < 6:
        return None
    return _index(Month.parse(text_value))


@dataclass
class Evolution:
    """How the registry (households feed) of month `month` differs from the county as built.

    `conversions`: household_id -> month index of the verification that put it under
    monitoring (the latest one up to the month's end)."""
    month: Month
    seed: int
    conversions: dict[str, int]
    min_months: int
    counts: dict = field(default_factory=dict)
    review_draws: pd.DataFrame | None = None   # fangpin.generate.registry.review_rows answers them

    def _count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def registry(self, hh: pd.DataFrame) -> None:
        """Changes the households frame in place (category, monitoring fields, measures)."""
        now = _index(self.month)
        pos = pd.Series(np.arange(len(hh)), index=hh["household_id"].to_numpy())
        scheduled = self._schedule(hh)
        converted = set()
        for hid, ident in sorted(self.conversions.items()):
            if ident > now or hid not in pos.index:
                continue
            h = int(pos[hid])
            before = int(hh.at[h, "cat"])
            monitor = ("脱贫不稳定户" if before == 0 else hh.at[h, "monitor_type"] if before == 1 and
                       isinstance(hh.at[h, "monitor_type"], str) else
                       "边缘易致贫户" if _u(self.seed, "type", hid) < 0.7 else "突发严重困难户")
            hh.at[h, "cat"], hh.at[h, "category"], hh.at[h, "monitor_type"] = 1, F.CAT_MONITORED, monitor
            hh.at[h, "identified_month"], hh.at[h, "risk_eliminated"] = _month_text(ident), "否"
            hh.at[h, "eliminated_month"] = None
            u = _u(self.seed, "measures", hid, ident)
            age = now - ident
            unassisted = (age == 0 and u < FIRST_MONTH_UNASSISTED) or (age == 1 and u < SECOND_MONTH_UNASSISTED)
            hh.at[h, "measures"] = 0 if unassisted else 1 + int(_u(self.seed, "n-measures", hid) * 4)
            self._count("newly_monitored" if age == 0 else "monitored_since_verification")
            self._count("unassisted_new", int(unassisted))
            converted.add(h)
        origin = _index(ORIGIN)
        for h in np.flatnonzero((hh["cat"].to_numpy() == 1) & (hh["risk_eliminated"].to_numpy() == "否")):
            hid = hh.at[h, "household_id"]
            ident = _parse_index(hh.at[h, "identified_month"])
            if ident is None:
                continue
            if h in converted and _u(self.seed, "fast", hid, ident) < TOO_SOON:
                when = ident + 2 + int(_u(self.seed, "fast-month", hid, ident) * 3)   # < min_months
            else:
                u = _u(self.seed, "eliminate", hid, ident)
                when = max(ident + self.min_months, origin) + int(math.log1p(-u) / math.log1p(-ELIMINATION_HAZARD))
                if h not in converted:
                    when = min(when, scheduled.get(hid, when))
            if when <= now:
                hh.at[h, "risk_eliminated"], hh.at[h, "eliminated_month"] = "是", _month_text(when)
                self._count("eliminated_this_month", int(when == now))
                self._count("eliminated_too_soon", int(when - ident < self.min_months))
            elif h not in converted and _u(self.seed, "unassisted", hid, now) < MONTHLY_UNASSISTED:
                hh.at[h, "measures"] = 0
                self._count("unassisted_lapse")

    def _schedule(self, hh: pd.DataFrame) -> dict[str, int]:
        """A month of elimination for the open 监测户 of the county as built (identified at least
        min_months before ORIGIN): `SCHEDULED_PER_1000` households per 1,000 a month from ORIGIN,
        in the order of a hash, so that every month has households cleared (拟消除) to review."""
        origin = _index(ORIGIN)
        idents = [(_parse_index(v), hid) for v, hid, c, r in zip(hh["identified_month"], hh["household_id"],
                                                                   hh["cat"], hh["risk_eliminated"])
                  if c == 1 and r == "否"]
        pool = sorted((hid for i, hid in idents if i is not None and i + self.min_months <= origin),
                      key=lambda hid: (_u(self.seed, "elim-slot", hid), hid))
        per = max(1, round(len(hh) * SCHEDULED_PER_1000 / 1000))
        return {hid: origin + i // per for i, hid in enumerate(pool)}

    def after_planting(self, hh: pd.DataFrame, plan, static_planted: np.ndarray) -> None:
        """Some monitored households that (always) have an income below the threshold are marked
        eliminated all the same (消除不规范), each in a month of its own."""
        now, origin = _index(self.month), _index(ORIGIN)
        for h in sorted(plan.planted):
            rules, _ = plan.planted[h]
            if not static_planted[h] or "R01" not in rules or int(hh.at[h, "cat"]) != 1 \
                    or hh.at[h, "risk_eliminated"] != "否":
                continue
            hid = hh.at[h, "household_id"]
            if _u(self.seed, "poor", hid) >= POOR_ELIMINATION:
                continue
            ident = _parse_index(hh.at[h, "identified_month"]) or origin
            when = max(origin + 5 + int(_u(self.seed, "poor-month", hid) * 8), ident + 1)
            if when <= now:
                hh.at[h, "risk_eliminated"], hh.at[h, "eliminated_month"] = "是", _month_text(when)
                self._count("eliminated_below_threshold")

    def summary(self) -> dict:
        return {"conversions": len(self.conversions), **dict(sorted(self.counts.items()))}


def conversions(eng: Engine, month: Month, seed: int) -> dict[str, int]:
    """Households verified as 纳入监测 by the end of `month` (from the pushes the system sent):
    household_id -> month index of the latest such verification."""
    plan = verification_plan(sent_pushes(eng, month.end), seed)
    plan = plan[(plan["conclusion"] == "纳入监测") & plan["verify_date"].notna()]
    plan = plan[np.array([d <= month.end for d in plan["verify_date"]], dtype=bool)]
    out: dict[str, int] = {}
    for hid, day in sorted(zip(plan["household_id"], plan["verify_date"]), key=lambda x: (x[0], x[1])):
        out[hid] = _index(Month.of(day))
    return out


def generate_month(data_root: Path, period: str, eng: Engine, households: int = 2000, seed: int = 1,
                   progress=None) -> Path:
    """Writes month `period`'s department delivery of the living county into
    <data_root>/<period>/ (with its answer key) and returns the folder."""
    month = Month.parse(period)
    evolution = Evolution(month, seed, conversions(eng, month, seed),
                          int(param("problems.min_months_before_elimination", month.end)),
                          review_draws=review_draws(eng, month.end))
    out = build_delivery(Path(data_root) / str(month), str(month), households, seed, progress, None,
                         living=evolution)
    _remember(Path(data_root), households, seed)
    return out


# ---- the weekly township feedback --------------------------------------------------------------

def _remember(data_root: Path, households: int, seed: int) -> None:
    data_root.mkdir(parents=True, exist_ok=True)
    (data_root / "living_county.json").write_text(json.dumps({"households": households, "seed": seed}),
                                                  encoding="utf-8")


def _households_of(data_root: Path, seed: int) -> int:
    path = Path(data_root) / "living_county.json"
    if path.is_file():
        known = json.loads(path.read_text(encoding="utf-8"))
        if int(known.get("seed", -1)) == seed:
            return int(known["households"])
    raise ValueError(f"{data_root}: the county's size is unknown (give households, or generate a month first)")


@lru_cache(maxsize=4)
def _county(seed: int, households: int, year: int, county_code: str):
    return build_county(seed, households, year, county_code,
                        min_months=int(param("problems.min_months_before_elimination", dt.date(year, 12, 31))),
                        large=int(param("screening.large_household_size", dt.date(year, 12, 31))),
                        student_ratio=float(param("screening.student_ratio", dt.date(year, 12, 31))))


def _in(days, week: Week) -> np.ndarray:
    return np.array([d is not None and not pd.isna(d) and week.start <= d <= week.end for d in days], dtype=bool)


def week_events(eng: Engine, week: Week, seed: int, county_hh: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The typed feedback rows of `week` (before defects), from what the system had sent by the
    week's Sunday."""
    until = week.end
    ver = verification_plan(sent_pushes(eng, until), seed)
    ver = ver[_in(ver["verify_date"], week)]
    probs = issued_problems(eng, until)
    open_then = np.array([c is None or c >= week.start for c in probs["closed_on"]], dtype=bool)
    rect = rectification_plan(probs[open_then].reset_index(drop=True), seed)
    rect = rect[_in(rect["rectify_date"], week)]
    calls = call_plan(drawn_households(eng, until), county_hh, seed)
    calls = calls[_in(calls["check_date"], week)]

    rng = np.random.default_rng([seed, 11, week.monday.toordinal()])
    staff = feedback._staff(np.random.default_rng([seed, 12, 451302]), _CountyView(county_hh))
    n = len(county_hh)
    visited = np.flatnonzero(rng.random(n) < WEEKLY_VISITS)
    days = rng.integers(0, 7, len(visited))
    ids = county_hh["household_id"].to_numpy()
    town = dict(zip(county_hh["household_id"], county_hh["township_code"]))
    risky = rng.random(len(visited)) < 0.02
    visits = pd.DataFrame({"household_id": ids[visited],
                           "inspect_date": [week.start + dt.timedelta(days=int(d)) for d in days],
                           "result": np.where(risky, "发现风险", "无风险")})
    at_verification = pd.DataFrame({"household_id": ver["household_id"], "inspect_date": ver["verify_date"],
                                    "result": np.where(ver["conclusion"] == "排除", "无风险", "发现风险")})
    insp = pd.concat([visits, at_verification], ignore_index=True)
    pick = rng.integers(0, 6, len(insp))
    insp["inspector"] = [staff[town.get(h, next(iter(staff)))][k] for h, k in zip(insp["household_id"], pick)]

    def typed(df, date_col, cols):
        df = df.copy()
        df[date_col] = np.array(df[date_col].tolist(), dtype="datetime64[D]") if len(df) else \
            np.array([], dtype="datetime64[D]")
        keys = [date_col, cols[0]]
        return df.sort_values(keys, kind="stable").reset_index(drop=True)[cols]

    yn = {True: "是", False: "否"}
    calls = calls.assign(answered=calls["answered"].map(yn), consistent=calls["consistent"].map(yn),
                         assisted=calls["assisted"].map(yn))
    texts = np.array(N.RECTIFICATION_TEXTS, dtype=object)
    rect = rect.assign(description=[texts[int(_u(seed, "rect-text", p) * len(texts))] for p in rect["problem_id"]])
    return {
        "inspections": typed(insp, "inspect_date", ["household_id", "inspect_date", "inspector", "result"]),
        "verifications": typed(ver, "verify_date", ["household_id", "verify_date", "conclusion"]),
        "spot_check_results": typed(calls, "check_date", ["household_id", "check_date", "answered", "consistent",
                                                          "assisted", "remark"]),
        "rectifications": typed(rect, "rectify_date", ["problem_id", "rectify_date", "description"]),
    }


class _CountyView:
    """The part of a County that feedback._staff reads (regions)."""

    def __init__(self, hh: pd.DataFrame):
        codes = sorted(set(hh["township_code"]))
        self.regions = pd.DataFrame({"code": codes, "level": "乡镇"})


def generate_week(data_root: Path, week: str, eng: Engine, seed: int = 1, households: int | None = None) -> Path:
    """Writes the township feedback of `week` (YYYY-Www or a date in it) into
    <data_root>/weekly/<YYYY-Www>/ and returns the folder. Feeds without rows that week are not
    written; answer_key/ holds the defects planted (expected_quarantine.csv) and the counts."""
    w = Week.parse(week)
    data_root = Path(data_root)
    households = households or _households_of(data_root, seed)
    county = _county(seed, households, w.end.year, settings().county_code)
    typed = week_events(eng, w, seed, county.hh)

    rng = np.random.default_rng([seed, 13, w.monday.toordinal()])
    texts = {f: write.text_frame(f, t, rng) for f, t in typed.items()}
    lines = []
    for feed in feedback.FEEDBACK_FEEDS:  # about DEFECT_RATE of the rows, one defect each
        frame = texts[feed]
        kinds = [k for f, k in FEEDBACK_DEFECTS if f == feed]
        for i in np.flatnonzero(rng.random(len(frame)) < DEFECT_RATE):
            col, value_of, reason = FEEDBACK_DEFECTS[(feed, kinds[int(rng.integers(0, len(kinds)))])]
            frame.at[i, col] = value_of(frame.at[i, col], w.month)
            lines.append((feed, int(i) + 2, F.feed(feed).zh_of(col), reason))

    folder = data_root / WEEKLY_DIR / str(w)
    folder.mkdir(parents=True, exist_ok=True)
    for feed in feedback.FEEDBACK_FEEDS:
        for old in folder.glob(f"{feed}.*"):
            old.unlink()
    written = {}
    for feed in feedback.FEEDBACK_FEEDS:
        if len(texts[feed]):
            name, _ = write.write_feed(folder, feed, texts[feed])
            written[feed] = {"file": name, "rows": len(texts[feed])}
    key = folder / KEY_DIR
    key.mkdir(exist_ok=True)
    order = {f: i for i, f in enumerate(feedback.FEEDBACK_FEEDS)}
    q = pd.DataFrame(lines, columns=["数据项", "行号", "列", "原因"])
    q = q.sort_values(["数据项", "行号"], key=lambda s: s.map(order) if s.name == "数据项" else s)
    write.write_key_csv(key / "expected_quarantine.csv", q)
    manifest = {"week": str(w), "from": str(w.start), "to": str(w.end), "seed": seed, "households": households,
                "feeds": written, "quarantine_lines": len(lines)}
    (key / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return folder


__all__ = ["generate_month", "generate_week", "sent_pushes", "issued_problems", "drawn_households", "review_draws",
           "verification_plan", "rectification_plan", "call_plan", "week_events", "conversions", "Evolution",
           "WEEKLY_DIR"]
