"""County sample review of decisions (拟识别纳入和拟风险消除抽样审核, the 浚县 practice).

Each month the county reviews a share of the households the townships newly identified (拟纳入:
监测户 whose 识别监测时间 is the period) and newly cleared (拟消除: 风险是否已消除 是 with
消除监测时间 the period). The share is the dated parameter `review.sample_share` (20%; 浚县
reviewed 130 households, 21.45%, in May 2022): per decision, ceil(share × households), at least
one when there is any. The draw is made on day `review.draw_day` of the next month (when the
delivery that shows the decisions has arrived), recorded in `decision_review_draws` with its seed
and dated; the same seed, period and data give the same draw. The county's findings come back
in the feedback feed `review_results` (审核结论 认定准确 | 认定不准确); `review_summary` reports the
抽查比例 and the outcomes.

See docs/review.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from fangpin import feeds as F
from fangpin.params import day_of_next_month, param
from fangpin.periods import Month

log = logging.getLogger(__name__)

NEW_IN, NEW_OUT = "拟纳入", "拟消除"
DECISIONS = (NEW_IN, NEW_OUT)
ACCURATE, INACCURATE = F.REVIEW_CONCLUSIONS
CSV_NAME = "review_draw.csv"
CSV_COLUMNS = {"decision": "审核类型", "township_code": "乡镇代码", "village_code": "村代码", "household_id": "户编号",
               "head_name": "户主姓名", "decision_month": "认定月份", "position": "抽取序号", "seed": "随机种子",
               "drawn_on": "抽取日期"}
SUMMARY_COLUMNS = ["decision", "households", "drawn", "share", "reviewed", "accurate", "inaccurate", "pending"]


def draw_date(period: Month | str, province: str | None = None) -> dt.date:
    """The day month M's decisions are drawn: day review.draw_day of M+1."""
    return day_of_next_month(period, "review.draw_day", province)


def decision_candidates(households: pd.DataFrame, period: Month | str) -> pd.DataFrame:
    """The period's new decisions (pure): household_id, township_code, village_code, head_name,
    decision (拟纳入 | 拟消除), decision_month. A household both identified and cleared in the
    period appears under both."""
    p = str(Month.parse(str(period)))
    hh = households.drop_duplicates("household_id", keep="last")
    base = ["household_id", "township_code", "village_code", "head_name"]
    hh = hh.assign(township_code=hh["village_code"].astype(str).str[:9])
    new_in = hh[(hh["category"] == F.CAT_MONITORED) & (hh["identified_month"] == p)]
    new_out = hh[(hh["risk_eliminated"].fillna("") == "是") & (hh["eliminated_month"] == p)]
    return pd.concat([new_in[base].assign(decision=NEW_IN, decision_month=p),
                      new_out[base].assign(decision=NEW_OUT, decision_month=p)], ignore_index=True)


def draw_reviews(candidates: pd.DataFrame, period: Month | str, seed: int, share: float) -> pd.DataFrame:
    """The draw (pure): per decision, the ceil(share × n) households with the smallest keys of a
    stable hash of (seed, period, household) (fangpin.sample.household_keys); position 1.. per decision."""
    from fangpin.sample import household_keys

    p = str(Month.parse(str(period)))
    parts = []
    for decision in DECISIONS:
        c = candidates[candidates["decision"] == decision]
        if c.empty:
            continue
        n = max(1, math.ceil(share * len(c) - 1e-9))
        c = c.assign(_key=household_keys(seed, p, c["household_id"])).sort_values(["_key", "household_id"])
        parts.append(c.head(n).drop(columns="_key").assign(position=np.arange(1, n + 1)))
    if not parts:
        return pd.DataFrame(columns=[*candidates.columns, "position"])
    return pd.concat(parts, ignore_index=True)


def default_seed(period: Month | str) -> int:
    """The seed when none is given: from the configured draw secret and the period, like the phone
    spot-check's but its own (fangpin.sample.default_seed, purpose "decision-review"), so the
    two draws of a month are independent and neither is predictable without the secret."""
    from fangpin.sample import default_seed as seed_of

    return seed_of(period, purpose="decision-review")


def run_review_draw(eng: Engine, period: Month | str, out_dir: Path, seed: int | None = None,
                    province: str | None = None) -> pd.DataFrame:
    """Draws the period's decisions for review, records the draw (replacing an earlier draw of the
    period) and writes OUT/review_draw.csv. Returns the draw."""
    from fangpin.store.db import read_feed
    from fangpin.store.models import DecisionReviewDraw

    month = Month.parse(str(period))
    p = str(month)
    seed = default_seed(month) if seed is None else int(seed)
    share = float(param("review.sample_share", month.end, province))
    cands = decision_candidates(read_feed(eng, "households", p), month)
    drawn = draw_reviews(cands, month, seed, share).assign(seed=seed, drawn_on=draw_date(month, province))
    t = DecisionReviewDraw.__table__
    cols = [c.name for c in t.columns]
    records = drawn.assign(period=p, candidates=drawn["decision"].map(cands["decision"].value_counts()))
    records = records.reindex(columns=cols).astype(object).where(records.reindex(columns=cols).notna(), None)
    with eng.begin() as conn:
        conn.execute(delete(t).where(t.c.period == p))
        if len(records):
            conn.execute(insert(t), records.to_dict("records"))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = drawn.reindex(columns=list(CSV_COLUMNS)).sort_values(["decision", "position"], ignore_index=True)
    csv.rename(columns=CSV_COLUMNS).to_csv(out_dir / CSV_NAME, index=False, encoding="utf-8-sig")
    log.info("decision review %s (seed %d, share %s): %s", p, seed, share,
             {d: int((drawn["decision"] == d).sum()) for d in DECISIONS})
    return drawn


def read_review_draw(eng: Engine, period: Month | str) -> pd.DataFrame:
    from fangpin.store.models import DecisionReviewDraw

    t = DecisionReviewDraw.__table__
    with eng.connect() as conn:
        df = pd.read_sql(select(t).where(t.c.period == str(Month.parse(str(period)))), conn)
    df["drawn_on"] = pd.to_datetime(df["drawn_on"])
    return df


def review_summary(eng: Engine, period: Month | str, known_by: dt.date | None = None) -> pd.DataFrame:
    """Per decision of the period's draw: households (new decisions), drawn, share (抽查比例 =
    drawn / households), reviewed, accurate (认定准确), inaccurate (认定不准确), pending (drawn, no
    result yet). A result counts when its household was drawn and it is dated on or after the
    draw (results from the deliveries arrived by `known_by`, every loaded one when None —
    fangpin.feedback.arrived_on; the latest result of a household wins)."""
    from fangpin.feedback import arrived_on
    from fangpin.store.db import periods_loaded, read_feed

    draw = read_review_draw(eng, period)
    results = [read_feed(eng, "review_results", p) for p in periods_loaded(eng, "review_results")
               if known_by is None or arrived_on(p) <= known_by]
    res = pd.concat(results, ignore_index=True) if results else pd.DataFrame(
        columns=["household_id", "review_date", "conclusion"])
    rows = []
    for decision in DECISIONS:
        d = draw[draw["decision"] == decision]
        n_all = int(d["candidates"].iloc[0]) if len(d) else 0
        r = res[res["household_id"].isin(d["household_id"])]
        if len(r):
            on = r["household_id"].map(d.set_index("household_id")["drawn_on"])
            r = r[pd.to_datetime(r["review_date"]) >= on].sort_values("review_date").drop_duplicates(
                "household_id", keep="last")
        acc = int((r["conclusion"] == ACCURATE).sum())
        bad = int((r["conclusion"] == INACCURATE).sum())
        rows.append({"decision": decision, "households": n_all, "drawn": len(d),
                     "share": (len(d) / n_all) if n_all else None, "reviewed": acc + bad, "accurate": acc,
                     "inaccurate": bad, "pending": len(d) - acc - bad})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
