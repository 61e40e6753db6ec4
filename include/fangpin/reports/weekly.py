"""周统计 — weekly statistics of the townships' daily screening, verification and spot checks,
plus the village drawn at random for the county's point-to-point check (点对点调度)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, select
from sqlalchemy.orm import Session

from fangpin import charts
from fangpin.config import settings
from fangpin.params import param
from fangpin.periods import Month, Week
from fangpin.reports import common as C
from fangpin.store.db import periods_loaded
from fangpin.store.models import FEED_TABLES, Problem, SpotCheckDraw, WeeklyVillageDraw

log = logging.getLogger(__name__)

KIND = "weekly"
TEMPLATE = "weekly.html"
TITLE = "防返贫动态监测周统计"


def file_name(period: str | Week) -> str:
    return f"{settings().county}防返贫动态监测周统计_{Week.parse(str(period))}.pdf"


def ascii_name(period: str | Week) -> str:
    return f"weekly_statistics_{Week.parse(str(period))}.pdf"


# ---- the point-to-point village draw ---------------------------------------------------------

def default_seed(week: Week) -> int:
    """The seed used when none is given: the week's Monday as a number (2026-11-02 -> 20261102)."""
    return int(week.monday.strftime("%Y%m%d"))


def pick_village(village_codes: list[str], week: Week, seed: int) -> str:
    """The village drawn for (week, seed): uniform over the sorted codes, from a stable hash."""
    codes = sorted(village_codes)
    if not codes:
        raise ValueError(f"no village to draw from for {week}")
    digest = hashlib.sha256(f"{int(seed)}|{week}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    return codes[int(rng.integers(len(codes)))]


def draw_village(eng: Engine, week: Week, village_codes: list[str], seed: int | None = None) -> dict:
    """The week's drawn village: the stored draw when there is one (re-running a week returns it),
    else a new reproducible draw, stored. Returns {village_code, seed, drawn_at, stored_before}."""
    t = WeeklyVillageDraw.__table__
    with eng.connect() as conn:
        row = conn.execute(select(t).where(t.c.week == str(week))).mappings().first()
    if row is not None:
        if seed is not None and int(seed) != row["seed"]:
            log.warning("week %s already drawn with seed %d; keeping the stored draw", week, row["seed"])
        return {"village_code": row["village_code"], "seed": row["seed"], "drawn_at": row["drawn_at"],
                "stored_before": True}
    seed = default_seed(week) if seed is None else int(seed)
    code = pick_village(village_codes, week, seed)
    drawn_at = dt.datetime.now().replace(microsecond=0)
    with Session(eng) as s, s.begin():
        s.add(WeeklyVillageDraw(week=str(week), village_code=code, seed=seed, drawn_at=drawn_at))
    log.info("week %s: village %s drawn for the point-to-point check (seed %d)", week, code, seed)
    return {"village_code": code, "seed": seed, "drawn_at": drawn_at, "stored_before": False}


# ---- figures -----------------------------------------------------------------------------------

def registry_month(eng: Engine, week: Week) -> Month:
    """The delivery the week reads: week.month, or the latest loaded one before it."""
    loaded = [p for p in periods_loaded(eng) if p <= str(week.month)]
    return Month.parse(loaded[-1]) if loaded else week.month


def inspections_between(eng: Engine, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Inspection rows dated between two dates, from every delivery that may hold them."""
    t = FEED_TABLES["inspections"]
    periods = C.months_between(first, last)
    df = C.query(eng, select(t.c.household_id, t.c.inspect_date, t.c.result).where(and_(
        t.c.period.in_(periods), t.c.inspect_date >= first, t.c.inspect_date <= last)))
    df["inspect_date"] = C.to_dates(df["inspect_date"])
    return df


def inspection_figures(hh: pd.DataFrame, week: Week, since: pd.DataFrame, in_week: pd.DataFrame) -> pd.DataFrame:
    """Per township: households, inspected_week, risk_found_week, covered (since campaign start), coverage."""
    where = hh.set_index("household_id")["township_code"]

    def per_town(ids: pd.Series) -> pd.Series:
        return where.reindex(pd.Index(ids.drop_duplicates())).dropna().value_counts()

    out = pd.DataFrame({
        "households": hh.groupby("township_code").size(),
        "inspected_week": per_town(in_week["household_id"]),
        "risk_found_week": per_town(in_week.loc[in_week["result"] == "发现风险", "household_id"]),
        "covered": per_town(since["household_id"]),
    }).fillna(0).astype("int64")
    out["week_rate"] = C.ratio(out["inspected_week"], out["households"])
    out["coverage"] = C.ratio(out["covered"], out["households"])
    return out


def spot_progress(eng: Engine, month: Month, week: Week, hh: pd.DataFrame) -> pd.DataFrame:
    """Per township: spot_to_call (the previous month's draw, called during `month`), spot_called
    (a result dated up to the week's end), spot_passed."""
    t = SpotCheckDraw.__table__
    prev = str(month.shift(-1))
    draws = C.query(eng, select(t.c.household_id, t.c.township_code).where(t.c.period == prev))
    r = FEED_TABLES["spot_check_results"]
    res = C.query(eng, select(r.c.household_id, r.c.answered, r.c.consistent, r.c.assisted, r.c.check_date)
                  .where(and_(r.c.period == str(month), r.c.check_date <= week.end)))
    res = res[res["household_id"].isin(draws["household_id"])].sort_values("check_date") \
        .drop_duplicates("household_id", keep="last").merge(draws, on="household_id")
    res["passed"] = (res[["answered", "consistent", "assisted"]] == "是").all(axis=1)
    out = pd.DataFrame({
        "spot_to_call": draws.groupby("township_code").size(),
        "spot_called": res.groupby("township_code").size(),
        "spot_passed": res.groupby("township_code")["passed"].sum(),
    }).fillna(0).astype("int64")
    out["spot_progress"] = C.ratio(out["spot_called"], out["spot_to_call"])
    return out


def verification_week(status: pd.DataFrame, week: Week) -> pd.DataFrame:
    out = C.verification_figures(status)
    in_week = status["verified_on"].between(pd.Timestamp(week.start), pd.Timestamp(week.end))
    out["verified_week"] = in_week.groupby(status["township_code"]).sum().reindex(out.index).fillna(0).astype(int)
    return out


def open_problems(eng: Engine, as_of: dt.date) -> pd.DataFrame:
    t = Problem.__table__
    df = C.query(eng, select(t.c.problem_id, t.c.problem_type, t.c.township_code, t.c.village_code,
                             t.c.household_id, t.c.deadline, t.c.closed_on, t.c.found_on)
                 .where(and_(t.c.found_on <= as_of)))
    for c in ("deadline", "closed_on", "found_on"):
        df[c] = C.to_dates(df[c])
    return df[df["closed_on"].isna() | (df["closed_on"] > pd.Timestamp(as_of))].reset_index(drop=True)


def build_context(eng: Engine, period: str | Week, seed: int | None = None) -> dict:
    week = Week.parse(str(period))
    s = settings()
    month = registry_month(eng, week)
    hh = C.households(eng, month)
    towns = C.townships(eng, month, hh)
    _, villages = C.region_names(eng, month)
    start = param("weekly.campaign_start", week.end)
    start = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))

    since = inspections_between(eng, start, week.end)
    in_week = since[since["inspect_date"] >= pd.Timestamp(week.start)]
    push_month = Month.of(week.end)
    status = C.verification_status(eng, C.pushes(eng, push_month.start, week.end), week.end)
    table = pd.DataFrame(index=pd.Index(towns.index, name="township_code"))
    for part in (inspection_figures(hh, week, since, in_week), verification_week(status, week),
                 spot_progress(eng, month, week, hh)):
        table = table.join(part, how="left")
    rates = ["week_rate", "coverage", "verification_timeliness", "spot_progress"]
    counts = [c for c in table.columns if c not in rates]
    table[counts] = table[counts].fillna(0).astype("int64")
    table.insert(0, "township_name", table.index.map(towns))
    total = {c: int(table[c].sum()) for c in counts}
    total.update(week_rate=C.ratio(total["inspected_week"], total["households"]),
                 coverage=C.ratio(total["covered"], total["households"]),
                 spot_progress=C.ratio(total["spot_called"], total["spot_to_call"]))
    total = {k: C.clean(v) for k, v in total.items()}

    # point-to-point check of one village
    draw = draw_village(eng, week, list(villages.index) or sorted(hh["village_code"].unique()), seed)
    vcode = draw["village_code"]
    vhh = hh[hh["village_code"] == vcode]
    vids = set(vhh["household_id"])
    names = vhh.set_index("household_id")["head_name"]
    vstatus = status[status["village_code"] == vcode]
    vprob = open_problems(eng, week.end)
    vprob = vprob[vprob["village_code"] == vcode]
    attention = [{"head_name": names.get(r.household_id, "—"), "what": f"疑似风险户核实：{r.v_state}",
                  "due": r.verify_by.date()} for r in vstatus[vstatus["v_state"].isin([C.V_OVERDUE, C.V_PENDING])]
                 .sort_values("verify_by").itertuples()]
    attention += [{"head_name": names.get(r.household_id, "—") if isinstance(r.household_id, str) else "—",
                   "what": f"问题清单（{r.problem_id}）：{r.problem_type}", "due": r.deadline.date()}
                  for r in vprob.sort_values("deadline").itertuples()]
    village = {
        "code": vcode, "name": villages.get(vcode, vcode), "township": towns.get(vcode[:9], vcode[:9]),
        "seed": draw["seed"], "drawn_at": draw["drawn_at"],
        "households": len(vhh),
        "inspected_week": int(in_week["household_id"][in_week["household_id"].isin(vids)].nunique()),
        "risk_found_week": int(in_week.loc[(in_week["result"] == "发现风险") & in_week["household_id"].isin(vids),
                                           "household_id"].nunique()),
        "covered": int(since["household_id"][since["household_id"].isin(vids)].nunique()),
        "pushed": len(vstatus), "overdue": int((vstatus["v_state"] == C.V_OVERDUE).sum()),
        "pending": int((vstatus["v_state"] == C.V_PENDING).sum()),
        "open_problems": len(vprob), "attention": attention,
    }
    village["coverage"] = C.clean(C.ratio(village["covered"], village["households"]))

    by_code = table.sort_values("township_code")
    chart = charts.hbar(list(by_code["township_name"]), list(by_code["coverage"]), pct=True,
                        title=f"自{start.year}年{start.month}月{start.day}日起累计排查覆盖率",
                        reference=total["coverage"])
    return {
        "kind": KIND,
        "title": f"{s.county}{TITLE}",
        "period": str(week),
        "period_label": f"{week.label}（{week}）",
        "issued_on": week.end + dt.timedelta(days=1),
        "county": s.county,
        "issuing_office": s.issuing_office,
        "week_start": week.start, "week_end": week.end,
        "registry_month": month.label,
        "campaign_start": start,
        "rows": C.records(table),
        "total": total,
        "village": village,
        "village_method": (f"从{month.label}行政区划中的{len(villages)}个村（社区）按代码排序，以“{week}”和随机种子"
                           f"{draw['seed']}经SHA-256生成随机数等概率抽取1个村；抽取结果存档，重新生成本周报告时沿用存档结果。"),
        "charts": {"coverage": chart},
    }
