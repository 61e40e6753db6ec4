"""Phone spot-check (电话抽查): the monthly draw, its audit trail, and what the calls found.

The county's data-verification team phones `sample.per_township` (30) 脱贫户 or 监测户 in every
township every month. `draw` is the pure draw; `run_sample` runs it on the database, records it
in `spot_check_draws` and writes `spot_check.csv` (data contract section 3). The feedback feed
`spot_check_results` is turned into problems (`spot_check_problems`), a report of calls to
households that were never drawn (`unexpected_results`) and per-township pass rates
(`pass_rates`) for the monthly bulletin's ranking.

The calendar (data contract section 4): the draw for month M is made and dated at the start of M
(day `sample.draw_day`, `draw_date`), from the latest households delivery loaded (`draw_basis`),
with a seed derived from the configured secret (settings().draw_secret, FANGPIN_DRAW_SECRET) and
the period (`default_seed`): auditors reproduce a draw from the seed recorded in
spot_check_draws and spot_check.csv (随机种子); townships cannot predict it without the secret.

Which draw a result belongs to: a call dated in month M (read from every monthly and weekly
delivery, fangpin.feedback.read_feedback) is matched to M's draw, when the household is on it and
the call is not dated before the draw. Anything else is an unexpected result: reported (with the
reason), never counted.

When a household was called more than once in a period, its latest call (by 抽查日期, then file
row) is its outcome: a retry that got through supersedes an earlier unanswered call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from fangpin.feeds import CAT_LIFTED, CAT_MONITORED
from fangpin.ids import redact
from fangpin.params import param
from fangpin.periods import Month
from fangpin.feedback import read_feedback
from fangpin.store.db import periods_loaded, read_feed
from fangpin.store.models import SpotCheckDraw

log = logging.getLogger(__name__)

ELIGIBLE = (CAT_LIFTED, CAT_MONITORED)
PROBLEM_TYPE = "电话抽查不符"
YES, NO = "是", "否"
FAIL_UNANSWERED, FAIL_INCONSISTENT, FAIL_UNASSISTED = "电话未接通", "信息不一致", "帮扶未落实"
NOT_DRAWN_REASON = "该户不在本月电话抽查名单中"
BEFORE_DRAW_REASON = "抽查日期早于本月抽查名单的抽取日期{drawn}，不计入"
CSV_NAME = "spot_check.csv"
# spot_check.csv: the contract's headers first (exact order), then our extras.
CSV_COLUMNS = {
    "township_code": "乡镇代码",
    "household_id": "户编号",
    "head_name": "户主姓名",
    "phone": "联系电话",
    "category": "农户类别",
    "village_code": "村代码",
    "position": "抽取序号",
    "was_recent": "前期已抽",
    "seed": "随机种子",
}
_INT4 = 2**31  # spot_check_draws.seed is a 32-bit integer column


# ---- the draw (pure) ---------------------------------------------------------------------

def default_seed(period: str | Month, secret: str | None = None, purpose: str = "spot-check") -> int:
    """The seed used when none is given: HMAC-SHA256 of `purpose|period` keyed by the draw secret
    (settings().draw_secret; fangpin.config.draw_secret()), as a non-negative 31-bit integer.
    Reproducible with the secret (or from the recorded seed), unpredictable without it; each
    draw (`purpose`: the phone spot-check, the decision review) has its own seed, so one draw
    tells nothing about another."""
    from fangpin.config import draw_secret

    key = (secret if secret is not None else draw_secret()).encode()
    digest = hmac.new(key, f"{purpose}|{Month.parse(str(period))}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % _INT4


def draw_date(period: str | Month) -> dt.date:
    """The day month M's draw is made and dated: day sample.draw_day of M."""
    m = Month.parse(str(period))
    return m.start + dt.timedelta(days=int(param("sample.draw_day", m.start)) - 1)


def draw_basis(eng: Engine, period: str | Month) -> str:
    """The households delivery a draw of `period` is made from: the period's own delivery when it
    is loaded (`fangpin sample --data`), else the latest one loaded before it — at the start of
    the month (the draw DAG) that is what is known then, as the month's own delivery arrives only
    after it ends. The delivery used is recorded with the draw (basis_period)."""
    m = Month.parse(str(period))
    loaded = [p for p in periods_loaded(eng) if p <= str(m)]
    return loaded[-1] if loaded else str(m)


def recorded_draw(eng: Engine, period: str | Month) -> tuple[int, str | None] | None:
    """(seed, basis_period) of the period's recorded draw; None when it was never drawn."""
    t = SpotCheckDraw.__table__
    with eng.connect() as conn:
        row = conn.execute(select(t.c.seed, t.c.basis_period)
                           .where(t.c.period == str(Month.parse(str(period)))).limit(1)).first()
    return (int(row[0]), row[1]) if row else None


def household_keys(seed: int, period: str, household_ids) -> np.ndarray:
    """Each household's random key in [0, 1): from a stable hash of (seed, period, household) —
    not Python's hash(), which is salted per process. A household's key does not depend on the
    other rows, so quarantining one household never reshuffles the rest of its township."""
    prefix = f"{int(seed)}|{period}|".encode()
    return np.fromiter((int.from_bytes(hashlib.sha256(prefix + str(h).encode()).digest()[:8], "big") / 2.0**64
                        for h in household_ids), dtype=np.float64, count=len(household_ids))


def draw(households: pd.DataFrame, period: str, seed: int, recent: set[str], per_township: int) -> pd.DataFrame:
    """The households drawn in each township, with `position` (1..n per township) and `was_recent`.

    Eligible: 脱贫户 and 监测户. Each eligible household gets a random key (`household_keys`:
    a hash of seed, period and household); per township, households not in `recent` come first,
    then (only when there are not enough of them) the recent ones; the first `per_township` by key
    are drawn — all of them when the township has fewer. The input's row order does not matter.
    """
    period = str(Month.parse(str(period)))
    eligible = (households[households["category"].isin(ELIGIBLE)]
                .drop_duplicates("household_id")
                .sort_values("household_id", kind="stable")
                .reset_index(drop=True))
    eligible["was_recent"] = eligible["household_id"].isin(set(recent))
    eligible["_key"] = household_keys(seed, period, eligible["household_id"])
    parts = []
    for code, group in eligible.groupby("township_code", sort=True):
        order = np.lexsort((group["_key"].to_numpy(), group["was_recent"].to_numpy()))  # fresh first, then by key
        picked = group.iloc[order[:per_township]].drop(columns="_key")
        picked["position"] = np.arange(1, len(picked) + 1)
        parts.append(picked)
    if not parts:
        return eligible.drop(columns="_key").assign(position=pd.Series(dtype="int64")).iloc[0:0]
    return pd.concat(parts, ignore_index=True)


# ---- the draw on the database ------------------------------------------------------------

def read_draws(eng: Engine, periods: list[str]) -> pd.DataFrame:
    """The recorded draws of `periods`: period, household_id, township_code, seed, position,
    drawn_at, basis_period."""
    t = SpotCheckDraw.__table__
    stmt = select(t.c.period, t.c.household_id, t.c.township_code, t.c.seed, t.c.position,
                  t.c.drawn_at, t.c.basis_period).where(t.c.period.in_([str(p) for p in periods]))
    with eng.connect() as conn:
        df = pd.read_sql(stmt, conn)
    return df.sort_values(["period", "township_code", "position"], ignore_index=True)


def recent_households(eng: Engine, period: str | Month, count: int) -> set[str]:
    """Households drawn in any of the `count` periods before `period`."""
    before = [str(m) for m in Month.parse(str(period)).previous(count)]
    return set(read_draws(eng, before)["household_id"]) if before else set()


def store_draw(eng: Engine, period: str, seed: int, drawn: pd.DataFrame, drawn_on: dt.date | None = None,
               basis: str | None = None) -> int:
    """Replaces the period's recorded draw by `drawn` (one transaction; re-runs never duplicate),
    dated `drawn_on` (default: draw_date(period)), never the machine clock."""
    t = SpotCheckDraw.__table__
    when = dt.datetime.combine(drawn_on or draw_date(period), dt.time())
    records = [{"period": period, "household_id": h, "township_code": c, "seed": int(seed),
                "position": int(p), "drawn_at": when, "basis_period": basis}
               for h, c, p in zip(drawn["household_id"], drawn["township_code"], drawn["position"])]
    with eng.begin() as conn:
        conn.execute(delete(t).where(t.c.period == period))
        if records:
            conn.execute(insert(t), records)
    return len(records)


def spot_check_frame(drawn: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The draw with spot_check.csv's Chinese headers (contract columns first)."""
    out = drawn.assign(seed=int(seed), was_recent=drawn["was_recent"].map({True: YES, False: NO}))
    out = out.reindex(columns=list(CSV_COLUMNS)).rename(columns=CSV_COLUMNS)
    return out.sort_values(["乡镇代码", "抽取序号"], ignore_index=True)


def run_sample(eng: Engine, period: str, out_dir: Path, seed: int | None = None,
               keep_recorded: bool = False) -> pd.DataFrame:
    """Draws the period's spot-check, records it (replacing a previous draw of the period), dated
    draw_date(period), and writes out_dir/spot_check.csv (UTF-8 with BOM). Returns the CSV's frame.

    seed: given (an auditor reproducing a draw) or default_seed(period) from the secret. With
    keep_recorded, a period already drawn is drawn again with its recorded seed (unless one is
    given) from its recorded households delivery: the same list as made at the start of the month
    (the bulletin, a re-run of the draw DAG)."""
    month = Month.parse(str(period))
    period = str(month)
    recorded = recorded_draw(eng, month) if keep_recorded else None
    if seed is None and recorded is not None:
        seed = recorded[0]
    seed = default_seed(month) if seed is None else int(seed)
    if not -_INT4 <= seed < _INT4:
        raise ValueError(f"seed must fit in a 32-bit integer, got {seed}")
    per_township = int(param("sample.per_township", on=month.end))
    exclusion = int(param("sample.exclusion_periods", on=month.end))

    basis = recorded[1] if recorded is not None and recorded[1] else draw_basis(eng, month)
    households = read_feed(eng, "households", basis)
    if households.empty:
        log.warning("no accepted households loaded for %s: the draw is empty", basis)
    recent = recent_households(eng, month, exclusion)
    drawn = draw(households, period, seed, recent, per_township)
    store_draw(eng, period, seed, drawn, basis=basis)

    out = spot_check_frame(drawn, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out.to_csv(out_dir / CSV_NAME, index=False, encoding="utf-8-sig")
    log.info("spot-check %s drawn on %s from %s (seed %d): %d households in %d townships, %d drawn again from the previous %d periods",
             period, draw_date(month), basis, seed, len(out), out["乡镇代码"].nunique(), int(drawn["was_recent"].sum()), exclusion)
    return out


# ---- call results ------------------------------------------------------------------------

def _locations(eng: Engine, periods: list[str]) -> pd.DataFrame:
    """household_id -> township_code, village_code from the households feed (first period wins)."""
    frames = [read_feed(eng, "households", p, columns=["household_id", "township_code", "village_code"])
              for p in periods]
    return pd.concat(frames, ignore_index=True).drop_duplicates("household_id")


def _matched_results(eng: Engine, period: str, known_by: dt.date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matched, unexpected): the calls dated in the period and arrived by `known_by` (default: the
    period's bulletin date, when its results are read; fangpin.feedback.read_feedback), split by
    whether they belong to the period's draw (household drawn, call not dated before the draw).

    `matched` holds one row per drawn household called (its latest call) with its draw's
    township_code and draw_period; `unexpected` holds every other call, with its `reason`.
    """
    from fangpin.problems import bulletin_date

    month = Month.parse(str(period))
    period = str(month)
    results = read_feedback(eng, "spot_check_results", month.start, month.end,
                            known_by=known_by or bulletin_date(month))
    draws = read_draws(eng, [period])
    drawn_on = pd.Timestamp(draws["drawn_at"].min()).normalize() if len(draws) else None
    draws = draws.rename(columns={"period": "draw_period"})[["household_id", "township_code", "draw_period"]]
    located = results.merge(draws, on="household_id", how="left")
    on_list = located["draw_period"].notna()
    before = on_list & (located["check_date"] < drawn_on) if drawn_on is not None else on_list & False
    is_drawn = on_list & ~before
    basis = sorted({*draws_basis(eng, period), period})
    loc = _locations(eng, basis[::-1]) if len(results) else pd.DataFrame(
        columns=["household_id", "township_code", "village_code"])

    matched = (located[is_drawn]
               .sort_values(["household_id", "check_date", "period", "source_row"])
               .drop_duplicates("household_id", keep="last")
               .merge(loc[["household_id", "village_code"]], on="household_id", how="left"))
    unexpected = located[~is_drawn].copy()
    unexpected["reason"] = np.where(before[~is_drawn],
                                    BEFORE_DRAW_REASON.format(drawn=f"{drawn_on:%Y-%m-%d}" if drawn_on is not None
                                                              else ""), NOT_DRAWN_REASON)
    unexpected = (unexpected.drop(columns=["township_code", "draw_period"])
                  .merge(loc, on="household_id", how="left"))
    return matched.reset_index(drop=True), unexpected.reset_index(drop=True)


def draws_basis(eng: Engine, period: str) -> list[str]:
    """The households deliveries a period's draw was made from (recorded with the draw)."""
    d = read_draws(eng, [period])
    return sorted(set(d["basis_period"].dropna())) if len(d) else []


def _failures(row_answered, row_consistent, row_assisted) -> list[str]:
    if row_answered == NO:  # nothing else could be checked on an unanswered call
        return [FAIL_UNANSWERED]
    return [label for value, label in ((row_consistent, FAIL_INCONSISTENT), (row_assisted, FAIL_UNASSISTED))
            if value == NO]


def _detail(failures: list[str], check_date, remark) -> str:
    text = f"{check_date:%Y-%m-%d}电话抽查：{'、'.join(failures)}"
    if isinstance(remark, str) and remark.strip():
        text += f"；备注：{redact(remark.strip())}"
    return text


PROBLEM_COLUMNS = ["household_id", "township_code", "village_code", "problem_type", "detail", "found_on",
                   "draw_period"]


def spot_check_problems(eng: Engine, period: str, known_by: dt.date | None = None) -> pd.DataFrame:
    """Problem candidates (type 电话抽查不符) from the period's call results for drawn households:
    a household whose (latest) call was not answered, found the record inconsistent or found
    assistance not delivered. Columns: household_id, township_code, village_code, problem_type,
    detail (Chinese, no phone numbers), found_on (the 抽查日期), draw_period. Results arrived by
    `known_by` (default: the period's bulletin date)."""
    matched, _ = _matched_results(eng, period, known_by)
    if matched.empty:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    failures = [_failures(a, c, s) for a, c, s in zip(matched["answered"], matched["consistent"], matched["assisted"])]
    failed = pd.Series([bool(f) for f in failures], index=matched.index)
    out = matched[failed].copy()
    out["problem_type"] = PROBLEM_TYPE
    out["detail"] = [_detail(f, d, r) for f, d, r in
                     zip([f for f in failures if f], out["check_date"], out["remark"])]
    out["found_on"] = out["check_date"].dt.date
    return out[PROBLEM_COLUMNS].sort_values(["township_code", "household_id"], ignore_index=True)


def unexpected_results(eng: Engine, period: str) -> pd.DataFrame:
    """Call results dated in the period that do not belong to its draw: the household was not
    drawn (NOT_DRAWN_REASON), or the call is dated before the draw (BEFORE_DRAW_REASON). They are
    reported (with the reason) and never counted in pass rates or problems."""
    _, unexpected = _matched_results(eng, period)
    if len(unexpected):
        log.warning("spot-check %s: %d results that do not belong to the month's draw", period, len(unexpected))
    out = unexpected.assign(remark=unexpected["remark"].map(lambda r: redact(r) if isinstance(r, str) else r))
    cols = ["household_id", "township_code", "village_code", "check_date", "answered", "consistent", "assisted",
            "remark", "source_row", "reason"]
    return out.reindex(columns=cols).sort_values(["township_code", "household_id", "source_row"], ignore_index=True)


def pass_rates(eng: Engine, period: str) -> pd.DataFrame:
    """Per township: drawn (this period's draw), called (drawn households with a result), answered,
    passed (answered, consistent and assisted), pass_rate = passed / called (NaN when none called),
    not_drawn_results (results for households not drawn). Every township of the regions feed is
    listed, plus any township met in draws or results; township_name when known."""
    period = str(Month.parse(str(period)))
    matched, unexpected = _matched_results(eng, period)
    draws = read_draws(eng, [period])
    regions = read_feed(eng, "regions", period, columns=["code", "name", "level"])
    names = regions[regions["level"] == "乡镇"].set_index("code")["name"]

    answered = matched["answered"] == YES
    passed = answered & (matched["consistent"] == YES) & (matched["assisted"] == YES)
    per_result = matched.assign(answered_=answered, passed_=passed)
    counts = pd.DataFrame({
        "drawn": draws.groupby("township_code").size(),
        "called": per_result.groupby("township_code").size(),
        "answered": per_result.groupby("township_code")["answered_"].sum(),
        "passed": per_result.groupby("township_code")["passed_"].sum(),
        "not_drawn_results": unexpected.groupby("township_code").size(),
    })
    codes = sorted(set(names.index) | set(counts.index))
    out = counts.reindex(codes).fillna(0).astype("int64")
    out["pass_rate"] = (out["passed"] / out["called"].where(out["called"] > 0)).astype("float64")
    out.index.name = "township_code"
    out = out.reset_index()
    out.insert(1, "township_name", out["township_code"].map(names))
    return out[["township_code", "township_name", "drawn", "called", "answered", "passed", "pass_rate",
                "not_drawn_results"]]
