"""Feedback feeds of the period: daily inspections, verifications, spot-check calls, rectifications."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fangpin.generate import names as N
from fangpin.generate.county import County

DAY = np.timedelta64(1, "D")
FEEDBACK_FEEDS = ("inspections", "verifications", "spot_check_results", "rectifications")
# typed columns of each feedback feed (h = household position, where there is one)
FEEDBACK_COLUMNS = {
    "inspections": {"h": np.int64, "household_id": object, "inspect_date": "datetime64[D]", "inspector": object,
                    "result": object},
    "verifications": {"h": np.int64, "household_id": object, "verify_date": "datetime64[D]", "conclusion": object},
    "spot_check_results": {"h": np.int64, "household_id": object, "check_date": "datetime64[D]", "answered": object,
                           "consistent": object, "assisted": object, "remark": object},
    "rectifications": {"problem_id": object, "rectify_date": "datetime64[D]", "description": object},
}


def empty_frames() -> dict[str, pd.DataFrame]:
    """The four feedback feeds without rows (a monthly delivery of the living county)."""
    return {feed: pd.DataFrame({c: np.array([], dtype=t) for c, t in cols.items()})
            for feed, cols in FEEDBACK_COLUMNS.items()}


def _days(rng, lo, hi, n):
    return lo + rng.integers(0, int((hi - lo) / DAY) + 1, n).astype("timedelta64[D]")


def _staff(rng, county: County, per_township: int = 6) -> dict[str, np.ndarray]:
    """A few screening staff per township (names only)."""
    out = {}
    for code in county.regions.loc[county.regions.level == "乡镇", "code"]:
        sur = np.array(list(N.SURNAMES), dtype=object)[rng.integers(0, len(N.SURNAMES), per_township)]
        given = np.array(list(N.GIVEN_MALE + N.GIVEN_FEMALE), dtype=object)
        out[code] = sur + given[rng.integers(0, len(given), per_township)] + given[rng.integers(0, len(given),
                                                                                                per_township)]
    return out


def inspections(rng, county: County, month, suspected: np.ndarray) -> pd.DataFrame:
    """Daily screening visits spread over the period's days; ~25% of households visited."""
    hh = county.hh
    n_h = len(hh)
    visited = np.flatnonzero((rng.random(n_h) < 0.25) | (suspected & (rng.random(n_h) < 0.8)))
    twice = visited[rng.random(len(visited)) < 0.1]
    h = np.sort(np.concatenate([visited, twice]))
    dates = _days(rng, np.datetime64(month.start), np.datetime64(month.end), len(h))
    staff = _staff(rng, county)
    town = hh["township_code"].to_numpy()[h]
    pick = rng.integers(0, 6, len(h))
    inspector = np.array([staff[t][k] for t, k in zip(town, pick)], dtype=object) if len(h) else np.array([], object)
    risk = rng.random(len(h)) < np.where(suspected[h], 0.4, 0.02)
    df = pd.DataFrame({"h": h, "household_id": hh["household_id"].to_numpy()[h], "inspect_date": dates,
                       "inspector": inspector, "result": np.where(risk, "发现风险", "无风险").astype(object)})
    return df.sort_values(["inspect_date", "household_id"], kind="stable").reset_index(drop=True)


def verifications(rng, county: County, month, pushed: np.ndarray, push_day: int, days: int) -> pd.DataFrame:
    """Verifications of households pushed on `push_day` of the period: most on time, some late."""
    hh = county.hh
    h = np.flatnonzero(pushed & (rng.random(len(hh)) < 0.85))
    push = np.datetime64(month.start) + (push_day - 1) * DAY
    due = push + days * DAY
    end = np.datetime64(month.end)
    late = (rng.random(len(h)) < 0.25) & (due < end)
    on_time = _days(rng, push, min(due, end), len(h))
    late_dates = _days(rng, min(due + DAY, end), end, len(h))
    conclusion = np.array(["纳入监测", "持续关注", "排除"], dtype=object)[rng.choice(3, len(h), p=[0.35, 0.35, 0.30])]
    df = pd.DataFrame({"h": h, "household_id": hh["household_id"].to_numpy()[h],
                       "verify_date": np.where(late, late_dates, on_time), "conclusion": conclusion})
    return df.sort_values(["verify_date", "household_id"], kind="stable").reset_index(drop=True)


def spot_checks(rng, county: County, month, per_township: int) -> pd.DataFrame:
    """The calls of the month's phone spot-check: the households `fangpin.sample.draw` picks for
    the month (default seed, no earlier draws: what `fangpin sample` draws on a fresh database),
    plus 1-2 calls to 一般农户, which are never drawn (reported as results for households not drawn)."""
    from fangpin.sample import default_seed, draw

    hh = county.hh
    drawn = draw(hh[["household_id", "township_code", "category"]], str(month), default_seed(month), set(),
                 per_township)
    position = pd.Series(np.arange(len(hh)), index=hh["household_id"].to_numpy())
    chosen = [position.reindex(drawn["household_id"]).to_numpy()]
    general = np.flatnonzero(hh["cat"].to_numpy() == 2)
    chosen.append(rng.choice(general, min(len(general), int(rng.integers(1, 3))), replace=False))
    h = np.concatenate(chosen).astype(np.int64)
    n = len(h)
    answered = rng.random(n) < 0.93
    consistent = answered & (rng.random(n) < 0.95)
    assisted = answered & (rng.random(n) < 0.95)
    remark = np.where(~answered, N.SPOT_CHECK_REMARKS_NO["answered"],
                      np.where(~consistent, N.SPOT_CHECK_REMARKS_NO["consistent"],
                               np.where(~assisted, N.SPOT_CHECK_REMARKS_NO["assisted"], ""))).astype(object)

    def yn(b):
        return np.where(b, "是", "否").astype(object)

    df = pd.DataFrame({"h": h, "household_id": hh["household_id"].to_numpy()[h],
                       "check_date": _days(rng, np.datetime64(month.start), np.datetime64(month.end), n),
                       "answered": yn(answered), "consistent": yn(consistent), "assisted": yn(assisted),
                       "remark": remark})
    return df.sort_values(["check_date", "household_id"], kind="stable").reset_index(drop=True)


def read_problem_ids(path: Path) -> list[str]:
    raw = Path(path).read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError(f"{path}: not UTF-8 or GB18030")
    import io

    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if "问题编号" not in frame.columns:
        raise ValueError(f"{path}: no column 问题编号")
    return [p.strip() for p in frame["问题编号"] if p.strip()]


def rectifications(rng, month, problem_ids: list[str]) -> pd.DataFrame:
    """Reports that about half of a previous bulletin's problems were fixed, dated in the period."""
    ids = np.array(sorted(set(problem_ids)), dtype=object)
    fixed = ids[rng.random(len(ids)) < 0.5] if len(ids) else ids
    n = len(fixed)
    return pd.DataFrame({"problem_id": fixed,
                         "rectify_date": _days(rng, np.datetime64(month.start), np.datetime64(month.end), n),
                         "description": np.array(N.RECTIFICATION_TEXTS, dtype=object)[
                             rng.integers(0, len(N.RECTIFICATION_TEXTS), n)]})
