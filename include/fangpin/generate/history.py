"""Background department rows: realistic records that hit no screening rule.

Two layers:
- history before the anchor year (disability certificates, social-assistance enrolments,
  diagnoses, housing appraisals, earlier inpatient settlements) comes from a seed-only random
  stream, so it is the same in every delivery of a county;
- rows of the period's year (this year's settlements, recent certificates and enrolments,
  new chronic diagnoses, this year's appraisals) come from the period's stream.

Every background row is built so that no household hits a rule: nothing severe, no new
enrolment and no new 大病 dated in the period; year-to-date out-of-pocket sums stay below the
R05 thresholds and below what R09 would need (see `cap_ytd`); every household's latest
appraisal is A or B. Frames are typed (numpy datetime64[D] dates, float money) and carry
`person` (member position, -1 for people outside the registry) and `h` (household position).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin.generate import names as N
from fangpin.generate.county import County

DAY = np.timedelta64(1, "D")


def _days_between(rng, lo: np.datetime64, hi: np.datetime64, n: int) -> np.ndarray:
    """n uniform dates in [lo, hi] (inclusive)."""
    span = int((hi - lo) / DAY)
    return lo + rng.integers(0, span + 1, n).astype("timedelta64[D]")


def _pick(rng, values, n, p=None) -> np.ndarray:
    return np.array(values, dtype=object)[rng.choice(len(values), n, p=p)]


def _frame(county: County, person: np.ndarray, **cols) -> pd.DataFrame:
    person = np.asarray(person, dtype=np.int64)
    h = county.mem["h"].to_numpy()[person] if len(person) else np.array([], dtype=np.int64)
    return pd.DataFrame({"person": person, "h": h, **cols})


def static_history(county: County, seed: int) -> dict[str, pd.DataFrame]:
    """Records dated before the anchor year (seed-only stream)."""
    rng = np.random.default_rng([seed, 2, 451302])
    mem, hh = county.mem, county.hh
    n, n_h = len(mem), len(hh)
    age = mem["age"].to_numpy()
    lo_hist = np.datetime64("2008-01-01")
    hi_hist = np.datetime64(f"{county.anchor_year - 1}-12-31")
    out = {}

    # disability certificates: ~6% of people, more among the old
    p = 0.02 + 0.08 * np.clip(age / 90, 0, 1)
    who = np.flatnonzero(rng.random(n) < p)
    out["disability"] = _frame(
        county, who,
        disability_type=_pick(rng, F.DISABILITY_TYPES, len(who), [0.12, 0.15, 0.03, 0.40, 0.10, 0.12, 0.08]),
        disability_grade=_pick(rng, F.DISABILITY_GRADES, len(who), [0.10, 0.20, 0.35, 0.35]),
        issue_date=np.maximum(_days_between(rng, lo_hist, hi_hist, len(who)),
                              mem["birth"].to_numpy()[who] + 365 * DAY))

    # social assistance: 低保 for whole households, 特困 for old people alone, a few 孤儿
    cat = hh["cat"].to_numpy()
    dibao_h = rng.random(n_h) < np.where(cat < 2, 0.12, 0.03)
    dibao_start = _days_between(rng, np.datetime64("2014-01-01"), hi_hist, n_h)
    h = mem["h"].to_numpy()
    d_people = np.flatnonzero(dibao_h[h])
    size = hh["size"].to_numpy()
    tekun = np.flatnonzero((size[h] == 1) & (age >= 60) & ~dibao_h[h] & (rng.random(n) < 0.2))
    orphan = np.flatnonzero((age < 18) & (rng.random(n) < 0.002))
    people = np.concatenate([d_people, tekun, orphan])
    kinds = np.concatenate([np.full(len(d_people), "低保", dtype=object), np.full(len(tekun), "特困", dtype=object),
                            np.full(len(orphan), "孤儿", dtype=object)])
    starts = np.concatenate([dibao_start[h[d_people]],
                             _days_between(rng, np.datetime64("2014-01-01"), hi_hist, len(tekun) + len(orphan))])
    births = mem["birth"].to_numpy()[people]
    starts = np.maximum(starts, births + 30 * DAY)
    out["civil_affairs"] = _frame(county, people, assistance_type=kinds, start_date=starts)

    # diagnoses: 大病 ~1%, 慢性病 ~7%, both more common with age
    major = np.flatnonzero(rng.random(n) < 0.003 + 0.02 * np.clip(age / 90, 0, 1))
    chronic = np.flatnonzero(rng.random(n) < np.clip((age - 35) / 45, 0, 1) * 0.18)
    people = np.concatenate([major, chronic])
    cls = np.concatenate([np.full(len(major), "大病", dtype=object), np.full(len(chronic), "慢性病", dtype=object)])
    disease = np.concatenate([_pick(rng, N.MAJOR_DISEASES, len(major)), _pick(rng, N.CHRONIC_DISEASES, len(chronic))])
    dates = np.maximum(_days_between(rng, np.datetime64("2015-01-01"), hi_hist, len(people)),
                       mem["birth"].to_numpy()[people] + 365 * DAY)
    out["health"] = _frame(county, people, disease=disease, disease_class=cls, diagnosis_date=dates)

    # housing appraisals: ~12% of households; a C/D house was later repaired and re-appraised A/B
    appraised = np.flatnonzero(rng.random(n_h) < 0.12)
    grade = _pick(rng, F.HOUSING_GRADES, len(appraised), [0.55, 0.30, 0.12, 0.03])
    d1 = _days_between(rng, np.datetime64("2019-01-01"), hi_hist - 400 * DAY, len(appraised))
    bad = np.isin(grade, ["C", "D"])
    second = appraised[bad]
    d2 = d1[bad] + rng.integers(60, 400, int(bad.sum())).astype("timedelta64[D]")
    g2 = _pick(rng, ["A", "B"], len(second), [0.8, 0.2])
    out["housing"] = pd.DataFrame({"h": np.concatenate([appraised, second]),
                                   "grade": np.concatenate([grade, g2]),
                                   "appraisal_date": np.concatenate([d1, d2])})
    return out


def period_rows(county: County, rng, month, income: np.ndarray, T: float, thresholds: tuple[float, float]) -> dict[str, pd.DataFrame]:
    """Records of the period's year up to the period's end (the period's stream)."""
    mem, hh = county.mem, county.hh
    n, n_h = len(mem), len(hh)
    age = mem["age"].to_numpy()
    start, end = np.datetime64(month.start), np.datetime64(month.end)
    year_start = np.datetime64(month.year_start)
    before = start - DAY
    has_before = before >= year_start
    out = {}

    # inpatient settlements this year (by discharge date) and in the two previous years
    elapsed = (month.month - 0.5) / 12
    p = (0.05 + 0.12 * np.clip(age / 90, 0, 1)) * elapsed
    first = np.flatnonzero(rng.random(n) < p)
    again = first[rng.random(len(first)) < 0.2]
    people = np.concatenate([first, again])
    discharge = _days_between(rng, year_start, end, len(people))
    stay = rng.integers(1, 21, len(people)).astype("timedelta64[D]")
    total = np.round(np.clip(rng.lognormal(np.log(5000), 0.8, len(people)), 300, 300000), 2)
    oop = np.round(total * rng.uniform(0.05, 0.3, len(people)), 2)
    ytd = _frame(county, people, admission_date=discharge - stay, discharge_date=discharge,
                 total_cost=total, out_of_pocket=oop)
    ytd = cap_ytd(ytd, county, income, T, thresholds)
    old = np.flatnonzero(rng.random(n) < 0.06 + 0.1 * np.clip(age / 90, 0, 1))
    d_old = _days_between(rng, year_start - 730 * DAY, year_start - DAY, len(old))
    t_old = np.round(np.clip(rng.lognormal(np.log(6000), 1.0, len(old)), 300, 500000), 2)
    earlier = _frame(county, old, admission_date=d_old - rng.integers(1, 21, len(old)).astype("timedelta64[D]"),
                     discharge_date=d_old, total_cost=t_old,
                     out_of_pocket=np.round(t_old * rng.uniform(0.05, 0.4, len(old)), 2))
    out["medical"] = pd.concat([earlier, ytd], ignore_index=True)

    # disability certificates issued this year: any grade before the period, only non-severe in it
    who = np.flatnonzero(rng.random(n) < 0.003)
    issue = _days_between(rng, year_start, end, len(who))
    in_period = issue >= start
    dtype = _pick(rng, F.DISABILITY_TYPES, len(who), [0.12, 0.15, 0.03, 0.40, 0.10, 0.12, 0.08])
    grade = _pick(rng, F.DISABILITY_GRADES, len(who), [0.10, 0.20, 0.35, 0.35])
    mild_types = np.array(["视力", "听力", "言语", "肢体", "多重"], dtype=object)
    grade[in_period] = _pick(rng, ["三级", "四级"], int(in_period.sum()))
    dtype[in_period] = np.where(grade[in_period] == "三级",
                                mild_types[rng.integers(0, len(mild_types), int(in_period.sum()))], dtype[in_period])
    out["disability"] = _frame(county, who, disability_type=dtype, disability_grade=grade, issue_date=issue)

    # new 低保 enrolments earlier this year (never in the period)
    if has_before:
        hs = np.flatnonzero(rng.random(n_h) < 0.004)
        starts = _days_between(rng, year_start, before, len(hs))
        h = mem["h"].to_numpy()
        people = np.flatnonzero(np.isin(h, hs))
        sd = pd.Series(starts, index=hs).reindex(h[people]).to_numpy()
        out["civil_affairs"] = _frame(county, people, assistance_type=np.full(len(people), "低保", dtype=object),
                                      start_date=sd)
    else:
        out["civil_affairs"] = _frame(county, np.array([], dtype=np.int64), assistance_type=np.array([], dtype=object),
                                      start_date=np.array([], dtype="datetime64[D]"))

    # diagnoses this year: 慢性病 any day up to the period's end, 大病 only before the period
    chronic = np.flatnonzero(rng.random(n) < np.clip((age - 35) / 45, 0, 1) * 0.01)
    c_dates = _days_between(rng, year_start, end, len(chronic))
    major = np.flatnonzero(rng.random(n) < 0.001) if has_before else np.array([], dtype=np.int64)
    m_dates = _days_between(rng, year_start, before, len(major)) if has_before else np.array([], "datetime64[D]")
    people = np.concatenate([chronic, major])
    out["health"] = _frame(
        county, people,
        disease=np.concatenate([_pick(rng, N.CHRONIC_DISEASES, len(chronic)), _pick(rng, N.MAJOR_DISEASES, len(major))]),
        disease_class=np.concatenate([np.full(len(chronic), "慢性病", dtype=object),
                                      np.full(len(major), "大病", dtype=object)]),
        diagnosis_date=np.concatenate([c_dates, m_dates]))

    # this year's housing appraisals: A or B
    hs = np.flatnonzero(rng.random(n_h) < 0.02)
    out["housing"] = pd.DataFrame({"h": hs, "grade": _pick(rng, ["A", "B"], len(hs), [0.75, 0.25]),
                                   "appraisal_date": _days_between(rng, year_start, end, len(hs))})
    return out


def cap_ytd(ytd: pd.DataFrame, county: County, income: np.ndarray, T: float,
            thresholds: tuple[float, float], member_share: float = 0.6, household_share: float = 0.7) -> pd.DataFrame:
    """Scales year-to-date out-of-pocket amounts down so that no background household hits R05/R09.

    Per member: the sum stays under `member_share` x the R05 threshold of the household's category.
    Per household: the sum stays under `household_share` x size x (income - T), so that income
    after medical costs stays at or above T (R09).
    """
    if ytd.empty:
        return ytd
    hh = county.hh
    size = hh["size"].to_numpy()
    registered, general = thresholds
    thr = np.where(hh["cat"].to_numpy() < 2, registered, general)
    h = ytd["h"].to_numpy()
    oop = ytd["out_of_pocket"].to_numpy()
    per_member = pd.Series(oop).groupby(ytd["person"].to_numpy()).transform("sum").to_numpy()
    per_household = np.bincount(h, weights=oop, minlength=len(size))
    cap_m = member_share * thr[h]
    cap_h = household_share * size * np.maximum(income - T, 0)
    factor = np.minimum(1.0, np.minimum(cap_m / np.maximum(per_member, 1e-9),
                                        cap_h[h] / np.maximum(per_household[h], 1e-9)))
    ytd = ytd.copy()
    ytd["out_of_pocket"] = np.floor(oop * factor * 100) / 100
    return ytd


def education_rows(county: County, stage: np.ndarray, status: np.ndarray) -> pd.DataFrame:
    people = np.flatnonzero(pd.notna(stage))
    return _frame(county, people, stage=stage[people], status=status[people])
