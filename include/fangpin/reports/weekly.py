"""周统计 — weekly statistics of the townships' work in ONE Monday–Sunday week: inspections,
verifications, spot-check calls and rectifications dated in the week (from every monthly and
weekly delivery, fangpin.feedback.read_feedback), the problems that turned 黄 during the week,
and the problems open at the week's end with the deadlines known then (a bulletin issued after
the week never shows); plus the week's delivery status (a missing weekly folder is reported) and
the village drawn at random for the county's point-to-point check (点对点调度)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fangpin import charts
from fangpin.config import settings
from fangpin.params import param
from fangpin.periods import Month, Week
from fangpin.reports import common as C
from fangpin import feeds as F
from fangpin.feedback import FEEDBACK_FEEDS, read_feedback
from fangpin.store.models import SpotCheckDraw, ValidationRun, WeeklyVillageDraw

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
    """The seed used when none is given: HMAC-SHA256 of the week keyed by the draw secret
    (fangpin.config.draw_secret), a non-negative 31-bit integer: villages cannot predict it."""
    from fangpin.config import draw_secret

    digest = hmac.new(draw_secret().encode(), f"village|{week}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def issued_on(week: Week) -> dt.date:
    """The 周统计 of a week is issued (and its village drawn) on the following Monday."""
    return week.end + dt.timedelta(days=1)


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
    drawn_at = dt.datetime.combine(issued_on(week), dt.time())  # the run's day, never the machine clock
    with Session(eng) as s, s.begin():
        s.add(WeeklyVillageDraw(week=str(week), village_code=code, seed=seed, drawn_at=drawn_at))
    log.info("week %s: village %s drawn for the point-to-point check (seed %d)", week, code, seed)
    return {"village_code": code, "seed": seed, "drawn_at": drawn_at, "stored_before": False}


# ---- figures -----------------------------------------------------------------------------------

def registry_month(eng: Engine, week: Week) -> Month:
    """The delivery the week reads: the latest loaded one that had arrived when the 周统计 is
    issued (the Monday after the week; month M arrives with its ingest on the 6th of M+1), so a
    re-run after later deliveries reproduces the report. Without one (a system started with a
    later delivery): the earliest loaded, which no later delivery changes; else week.month."""
    from fangpin.feedback import registry_known_by

    period = registry_known_by(eng, issued_on(week), before=str(week.month))
    return Month.parse(period) if period else week.month


def inspections_between(eng: Engine, first: dt.date, last: dt.date, known_by: dt.date) -> pd.DataFrame:
    """Inspection rows dated between two dates, from every monthly and weekly delivery arrived by
    `known_by` (the report's date)."""
    return read_feedback(eng, "inspections", first, last, ["household_id", "inspect_date", "result"],
                         known_by=known_by)


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


def spot_progress(eng: Engine, week: Week) -> pd.DataFrame:
    """Per township: the phone spot-check of the week's month (calls of month M belong to M's
    draw, made at its start): spot_to_call (drawn), spot_called (drawn households with a call dated
    from the draw to the week's end), spot_called_week (called during the week), spot_passed."""
    month = week.month
    t = SpotCheckDraw.__table__
    draws = C.query(eng, select(t.c.household_id, t.c.township_code, t.c.drawn_at).where(t.c.period == str(month)))
    first = max(month.start, pd.Timestamp(draws["drawn_at"].min()).date()) if len(draws) else month.start
    res = read_feedback(eng, "spot_check_results", first, week.end,
                        ["household_id", "answered", "consistent", "assisted", "check_date"], known_by=issued_on(week))
    res = res[res["household_id"].isin(draws["household_id"])]
    in_week = res[res["check_date"] >= pd.Timestamp(week.start)].drop_duplicates("household_id") \
        .merge(draws, on="household_id")
    res = res.sort_values("check_date").drop_duplicates("household_id", keep="last").merge(draws, on="household_id")
    res["passed"] = (res[["answered", "consistent", "assisted"]] == "是").all(axis=1)
    out = pd.DataFrame({
        "spot_to_call": draws.groupby("township_code").size(),
        "spot_called": res.groupby("township_code").size(),
        "spot_called_week": in_week.groupby("township_code").size(),
        "spot_passed": res.groupby("township_code")["passed"].sum(),
    }).fillna(0).astype("int64")
    out["spot_progress"] = C.ratio(out["spot_called"], out["spot_to_call"])
    return out


def problem_states(eng: Engine, week: Week) -> pd.DataFrame:
    """Problems notified by the week's end, in their state on that day as known when the 周统计 is
    issued (fangpin.problems.states): the deadlines shown are those in force then, never one set by
    a later bulletin; closures arrived later are not shown."""
    from fangpin import problems as P

    df = P.read_problems(eng)
    df = df[df["notified_on"].map(lambda d: d <= week.end).astype(bool)]
    return P.states(df, week.end, issued_on(week))


def rectification_figures(eng: Engine, week: Week, known: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per township: rectified_week, rectified_week_late; the week's rectification rows with the
    problem's township and state). Rows naming no notified problem are counted under no township."""
    rect = read_feedback(eng, "rectifications", week.start, week.end, ["problem_id", "rectify_date", "description"],
                         known_by=issued_on(week))
    rect = rect.assign(problem_id=rect["problem_id"].astype(str).str.strip().str.upper())
    rows = rect.merge(known[["problem_id", "township_code", "closed_on", "on_time", "state"]], on="problem_id",
                      how="inner")
    closing = rows[rows["rectify_date"].dt.date == rows["closed_on"]]
    out = pd.DataFrame({
        "rectified_week": closing.groupby("township_code").size(),
        "rectified_week_late": closing[closing["on_time"] == "否"].groupby("township_code").size(),
    }).fillna(0).astype("int64")
    return out, rows


def delivery_status(eng: Engine, week: Week) -> dict:
    """The week's feedback drop as validated (validation_runs of delivery YYYY-Www): delivered or not,
    and per feed its status and row counts."""
    t = ValidationRun.__table__
    runs = C.query(eng, select(t.c.feed, t.c.status, t.c.rows_total, t.c.rows_accepted, t.c.rows_quarantined,
                               t.c.message).where(t.c.period == str(week), t.c.is_current.is_(True)))
    labels = {n: F.FEEDS[n].label for n in FEEDBACK_FEEDS}
    feeds = [{"feed": labels[n], **(runs[runs["feed"] == n].iloc[0].drop("feed").to_dict()
                                    if (runs["feed"] == n).any() else
                                    {"status": "未提供", "rows_total": 0, "rows_accepted": 0, "rows_quarantined": 0,
                                     "message": None})} for n in FEEDBACK_FEEDS]
    delivered = bool(len(runs)) and bool((runs["status"] != "未提供").any())
    return {"delivered": delivered, "folder": f"weekly/{week}/", "feeds": [{k: C.clean(v) for k, v in f.items()}
                                                                          for f in feeds]}


def verification_week(status: pd.DataFrame, week: Week) -> pd.DataFrame:
    out = C.verification_figures(status)
    in_week = status["verified_on"].between(pd.Timestamp(week.start), pd.Timestamp(week.end))
    out["verified_week"] = in_week.groupby(status["township_code"]).sum().reindex(out.index).fillna(0).astype(int)
    return out


def _problem_rows(frame: pd.DataFrame, hh: pd.DataFrame, towns: pd.Series) -> list[dict]:
    names = hh.drop_duplicates("household_id").set_index("household_id")["head_name"]
    return [{"problem_id": r.problem_id, "township": towns.get(r.township_code, r.township_code),
             "head_name": names.get(r.household_id, "—") if isinstance(r.household_id, str) else "—",
             "problem_type": r.problem_type, "notified_on": r.notified_on, "deadline": r.deadline,
             "state": r.state, "closed_on": r.closed_on}
            for r in frame.sort_values(["township_code", "problem_id"]).itertuples()]


def build_context(eng: Engine, period: str | Week, seed: int | None = None) -> dict:
    week = Week.parse(str(period))
    s = settings()
    month = registry_month(eng, week)
    hh = C.households(eng, month)
    towns = C.townships(eng, month, hh)
    _, villages = C.region_names(eng, month)
    start = param("weekly.campaign_start", week.end)
    start = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))

    since = inspections_between(eng, start, week.end, issued_on(week))
    in_week = since[since["inspect_date"] >= pd.Timestamp(week.start)]
    push_month = Month.of(week.end)
    status = C.verification_status(eng, C.pushes(eng, push_month.start, week.end), week.end, issued_on(week))
    from fangpin import problems as P

    known = problem_states(eng, week)
    open_now = known[known["state"] != P.STATE_CLOSED]
    turned = P.turned_yellow(eng, week.start, week.end, issued_on(week))
    rect_fig, rect_rows = rectification_figures(eng, week, known)
    state_counts = pd.DataFrame({
        "open_blue": open_now[open_now["state"] == P.STATE_BLUE].groupby("township_code").size(),
        "open_yellow": open_now[open_now["state"] == P.STATE_YELLOW].groupby("township_code").size(),
        "open_red": open_now[open_now["state"] == P.STATE_RED].groupby("township_code").size(),
        "yellow_week": turned.groupby("township_code").size(),
    }).fillna(0).astype("int64")
    table = pd.DataFrame(index=pd.Index(towns.index, name="township_code"))
    for part in (inspection_figures(hh, week, since, in_week), verification_week(status, week),
                 spot_progress(eng, week), rect_fig, state_counts):
        table = table.join(part, how="left")
    for c in ("spot_called_week", "rectified_week", "rectified_week_late", "open_blue", "open_yellow", "open_red",
              "yellow_week"):
        if c not in table:
            table[c] = 0
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
    vprob = open_now[open_now["village_code"] == vcode]
    attention = [{"head_name": names.get(r.household_id, "—"), "what": f"疑似风险户核实：{r.v_state}",
                  "due": r.verify_by.date()} for r in vstatus[vstatus["v_state"].isin([C.V_OVERDUE, C.V_PENDING])]
                 .sort_values("verify_by").itertuples()]
    attention += [{"head_name": names.get(r.household_id, "—") if isinstance(r.household_id, str) else "—",
                   "what": f"问题清单（{r.problem_id}）：{r.problem_type}（{r.state}）", "due": r.deadline}
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
        "issued_on": issued_on(week),
        "delivery": delivery_status(eng, week),
        "turned_yellow": _problem_rows(turned, hh, towns),
        "rectified_rows": int(len(rect_rows)),
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
