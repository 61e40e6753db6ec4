"""The generator's 人社 feed (`employment`) and the optional households columns 风险类型 / 风险消除方式.

Both are background: they hit no screening rule, so the answer key (expected_screening.csv) is
unchanged. The 人社 export of delivery M lists, for about half of the laborers, one row per
person for the previous month and for M (统计月份 M−1 and M), same status both months and a wage
within ±15%: no household's work income falls by half and no laborer becomes 失业, so R13 never
hits. 风险类型 is filled for 监测户 (one or two types), 风险消除方式 for those whose risk is
eliminated; these may show registry-audit doubts (A05, A06), as real registries do (the audit
answer key lists them; fangpin.generate.registry plants the others).

Random draws use their own generator (seeded from the county seed and the period), so adding
these feeds does not change any other generated value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin.periods import Month

_STATUS_P = {"务工": 0.62, "灵活就业": 0.2, "公益性岗位": 0.1, "失业": 0.08}
_WAGE = {"务工": (2500, 6500), "灵活就业": (1200, 3500), "公益性岗位": (800, 1500), "失业": (0, 0)}
_COMMON_TYPES = ("因病", "因残", "因学", "缺劳动力", "务工就业不稳", "产业项目失败", "因灾", "因意外事故", "其他")
_TYPES_P = (0.3, 0.15, 0.12, 0.12, 0.1, 0.06, 0.06, 0.04, 0.05)


def _rng(seed: int, month: Month, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, month.year * 12 + month.month, 15, stream])


def employment_rows(county, skill: np.ndarray, month: Month, seed: int) -> pd.DataFrame:
    """Typed 人社 rows (+ person, h) for months M−1 and M."""
    rng = _rng(seed, month, 1)
    mem = county.mem
    laborer = np.isin(skill, F.LABORER_SKILLS)
    people = np.flatnonzero(laborer & (rng.random(len(mem)) < 0.5))
    n = len(people)
    statuses = np.array(list(_STATUS_P), dtype=object)
    status = rng.choice(statuses, n, p=list(_STATUS_P.values()))
    lo = np.array([_WAGE[s][0] for s in status], dtype=float)
    hi = np.array([_WAGE[s][1] for s in status], dtype=float)
    wage_prev = np.round(lo + rng.random(n) * (hi - lo), 2)
    wage_now = np.round(wage_prev * rng.uniform(0.85, 1.15, n), 2)
    place = rng.choice(np.array(F.WORK_PLACES, dtype=object), n, p=[0.45, 0.3, 0.25])
    place = np.where(status == F.UNEMPLOYED, None, place)
    frames = []
    for m, wage in ((month.shift(-1), wage_prev), (month, wage_now)):
        frames.append(pd.DataFrame({"person": people, "h": mem["h"].to_numpy()[people],
                                    "id_number": mem["id_number"].to_numpy()[people], "employment_status": status,
                                    "work_place": place, "monthly_wage": wage, "stat_month": str(m)}))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["stat_month", "id_number"], kind="stable").reset_index(drop=True)


def risk_columns(county, month: Month, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(风险类型, 风险消除方式) per household: filled for 监测户 only."""
    rng = _rng(seed, month, 2)
    hh = county.hh
    n = len(hh)
    monitored = (hh["cat"] == 1).to_numpy()
    types = np.array(_COMMON_TYPES, dtype=object)
    first = rng.choice(types, n, p=_TYPES_P)
    second = rng.choice(types, n, p=_TYPES_P)
    two = (rng.random(n) < 0.25) & (first != second)
    joined = np.where(two, first + F.RISK_TYPE_SEP + second, first)
    risk_types = np.where(monitored, joined, None)
    eliminated = (hh["risk_eliminated"].to_numpy() == "是")
    method = np.where(rng.random(n) < 0.9, F.ELIMINATION_METHODS[0], F.ELIMINATION_METHODS[1])
    return risk_types, np.where(eliminated, method, None)


def add_feeds(typed: dict[str, pd.DataFrame], county, skill: np.ndarray, month: Month, seed: int) -> None:
    """The hook build.generate_county calls: typed['employment'], the optional households columns,
    and an empty review_results feed (build fills it: fangpin.generate.registry.review_rows)."""
    typed["employment"] = employment_rows(county, skill, month, seed)
    typed["review_results"] = pd.DataFrame({c: pd.Series(dtype=object) for c in F.REVIEW_RESULTS.names})
    risk_types, method = risk_columns(county, month, seed)
    typed["households"]["risk_types"] = risk_types
    typed["households"]["elimination_method"] = method
