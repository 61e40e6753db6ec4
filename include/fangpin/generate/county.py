"""The static part of a synthetic county: regions, households and members.

Everything here depends only on the seed (and on the county's fixed map), never on the period,
so two deliveries generated with one seed describe the same households and people. Ages and
birth dates are anchored on 1 January of `anchor_year` (min(2026, period year)): every birth
date lies before the year before the anchor, so no ID number has a future birth date.

All work is vectorised with numpy/pandas (Xingbin scale: 244,000 households, ~911,000 people).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin.ids import CHECK_CHARS, WEIGHTS
from fangpin.generate import names as N

MAP_SEED = 451302            # the county's map (villages) is the same for every seed
MAX_ANCHOR_YEAR = 2026
SIZE_P = np.array([0.10, 0.16, 0.20, 0.22, 0.16, 0.09, 0.05, 0.02])  # sizes 1..8, mean 3.75
CATEGORY_P = np.array([0.25, 0.05, 0.70])                            # 脱贫户, 监测户, 一般农户
LABORER = set(F.LABORER_SKILLS)
SKILLED, ORDINARY, WEAK, LOST, NONE = F.LABOR_SKILLS


@dataclass
class County:
    regions: pd.DataFrame     # code, name, level (+ township for villages)
    hh: pd.DataFrame          # one row per household, static attributes
    mem: pd.DataFrame         # one row per member, static attributes (h = household position)
    start: np.ndarray         # position of each household's first member in `mem`
    anchor_year: int


def anchor_year(year: int) -> int:
    return min(MAX_ANCHOR_YEAR, year)


# ---- ID numbers (vectorised GB 11643) --------------------------------------------------------

def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, day


def first17(area: str, births: np.ndarray, seqs: np.ndarray) -> np.ndarray:
    """The first 17 digits as int64: area(6) + YYYYMMDD + sequence(3)."""
    y, m, d = _ymd(births)
    return int(area[:6]) * 10**11 + (y * 10000 + m * 100 + d) * 1000 + np.asarray(seqs, dtype=np.int64)


def id_strings(body: np.ndarray) -> np.ndarray:
    """ID numbers (object array of str) from 17-digit int64 bodies: appends the check digit."""
    body = np.asarray(body, dtype=np.int64)
    total = np.zeros(len(body), dtype=np.int64)
    rest = body.copy()
    for w in reversed(WEIGHTS):
        total += (rest % 10) * w
        rest //= 10
    checks = np.array(list(CHECK_CHARS))[total % 11]
    text = pd.Series(body).astype(str).str.zfill(17).to_numpy(dtype=object)
    return text + checks.astype(object)


def unique_bodies(rng, area: str, births: np.ndarray, male: np.ndarray, taken: set | None = None) -> np.ndarray:
    """17-digit bodies with sequence parity by sex (odd = male), unique among themselves and `taken`."""
    n = len(births)
    seqs = rng.integers(0, 500, n) * 2 + male.astype(np.int64)
    bodies = first17(area, births, seqs)
    taken = np.fromiter(taken, dtype=np.int64) if taken else np.array([], dtype=np.int64)
    for _ in range(50):
        _, first = np.unique(bodies, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        dup |= np.isin(bodies, taken)
        if not dup.any():
            return bodies
        k = int(dup.sum())
        seqs[dup] = rng.integers(0, 500, k) * 2 + male[dup].astype(np.int64)
        bodies[dup] = first17(area, births[dup], seqs[dup])
    raise RuntimeError("could not make unique ID numbers")


# ---- regions --------------------------------------------------------------------------------

def build_regions(county_code: str) -> pd.DataFrame:
    rng = np.random.default_rng(MAP_SEED)
    rows = []
    for name, suffix, _ in N.TOWNSHIPS:
        tcode = f"{county_code}{suffix}"
        rows.append((tcode, name, "乡镇", tcode))
        street = name.endswith("街道")
        k = 4 if street else int(rng.integers(8, 19))
        combos = rng.permutation(len(N.VILLAGE_FIRST) * len(N.VILLAGE_SECOND))[:k]
        for i, c in enumerate(combos):
            a, b = N.VILLAGE_FIRST[c // len(N.VILLAGE_SECOND)], N.VILLAGE_SECOND[c % len(N.VILLAGE_SECOND)]
            vcode = f"{tcode}{(1 if street else 201) + i:03d}"
            rows.append((vcode, f"{a}{b}{'社区' if street else '村'}", "村", tcode))
    return pd.DataFrame(rows, columns=["code", "name", "level", "township"])


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    raw = total * weights / weights.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return out


# ---- households and members -----------------------------------------------------------------

def _households(rng, regions: pd.DataFrame, n: int, county_code: str, min_months: int) -> pd.DataFrame:
    tw = np.array([w for _, _, w in N.TOWNSHIPS])
    per_township = _largest_remainder(n, tw)
    map_rng = np.random.default_rng(MAP_SEED + 1)
    villages, townships = [], []
    for (name, suffix, _), count in zip(N.TOWNSHIPS, per_township):
        vs = regions[(regions.level == "村") & (regions.township == f"{county_code}{suffix}")]
        vw = map_rng.lognormal(0, 0.4, len(vs))
        counts = rng.multinomial(count, vw / vw.sum())
        for code, c in zip(vs.code, counts):
            villages.append(np.full(c, code, dtype=object))
            townships.append(np.full(c, name, dtype=object))
    village = np.concatenate(villages)
    township_name = np.concatenate(townships)
    # 户编号: village code + a 4-digit number (a random subset, so other seeds give other IDs)
    seq = np.empty(n, dtype=np.int64)
    _, first, counts = np.unique(village, return_index=True, return_counts=True)
    for f, c in zip(first, counts):
        cap = max(9999, 3 * c)
        seq[f:f + c] = np.sort(rng.choice(np.arange(1, cap + 1), c, replace=False))
    width = max(4, len(str(int(seq.max())))) if n else 4
    hid = pd.Series(village).astype(str) + pd.Series(seq).astype(str).str.zfill(width)

    size = rng.choice(np.arange(1, 9), n, p=SIZE_P)
    cat = rng.choice(3, n, p=CATEGORY_P)
    small = np.flatnonzero((township_name == N.SMALL_TOWNSHIP) & (cat < 2))
    cat[small[N.SMALL_TOWNSHIP_ELIGIBLE:]] = 2
    hh = pd.DataFrame({"household_id": hid.to_numpy(dtype=object), "village_code": village,
                       "township_code": pd.Series(village).str[:9].to_numpy(dtype=object),
                       "township_name": township_name, "size": size, "cat": cat,
                       "category": np.array(F.CATEGORIES, dtype=object)[cat]})
    # monitoring attributes (监测户 only); months counted as year*12 + month-1
    mon = cat == 1
    hh["monitor_type"] = np.where(mon, rng.choice(np.array(F.MONITOR_TYPES, dtype=object), n, p=[0.4, 0.45, 0.15]),
                                  None)
    hh["_ident_u"] = rng.random(n)
    hh["_elim_u"] = rng.random(n)
    hh["_elim_len"] = rng.random(n)
    hh["excess"] = np.round(1500 + rng.lognormal(np.log(np.array([4000, 2500, 9000])[cat]), 0.6), 2)
    hh["last_ratio"] = rng.uniform(0.8, 1.2, n)
    hh["measures"] = np.select([cat == 0, cat == 1], [rng.integers(2, 7, n), rng.integers(1, 6, n)],
                               (rng.random(n) < 0.1).astype(int))
    prefixes = np.array(N.MOBILE_PREFIXES, dtype=object)[rng.integers(0, len(N.MOBILE_PREFIXES), n)]
    hh["phone"] = prefixes + pd.Series(rng.integers(0, 10**8, n)).astype(str).str.zfill(8).to_numpy(dtype=object)
    hh.attrs["min_months"] = min_months
    return hh


def _monitor_months(hh: pd.DataFrame, anchor: int, min_months: int) -> None:
    """识别监测时间 / 风险是否已消除 / 消除监测时间 for 监测户, all before the anchor year."""
    first = 2021 * 12 + 5                       # 2021-06: the monitoring mechanism starts
    last = (anchor - 1) * 12 + 11               # December before the anchor year
    mon = (hh["cat"] == 1).to_numpy()
    ident = first + np.floor(hh["_ident_u"].to_numpy() * (last - first + 1)).astype(int)
    can = ident + min_months <= last
    elim = mon & can & (hh["_elim_u"].to_numpy() < 0.4)
    span = np.maximum(last - ident - min_months, 0)
    elim_month = ident + min_months + np.floor(hh["_elim_len"].to_numpy() * (span + 1)).astype(int)

    def fmt(m):
        return pd.Series(m // 12).astype(str) + "-" + pd.Series(m % 12 + 1).astype(str).str.zfill(2)

    hh["identified_month"] = np.where(mon, fmt(ident).to_numpy(dtype=object), None)
    hh["risk_eliminated"] = np.where(mon, np.where(elim, "是", "否"), None)
    hh["eliminated_month"] = np.where(elim, fmt(elim_month).to_numpy(dtype=object), None)
    hh.drop(columns=["_ident_u", "_elim_u", "_elim_len"], inplace=True)


def _members(rng, hh: pd.DataFrame, anchor: int, county_code: str) -> tuple[pd.DataFrame, np.ndarray]:
    size = hh["size"].to_numpy()
    n_h, n = len(size), int(size.sum())
    start = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    h = np.repeat(np.arange(n_h), size)
    pos = np.arange(n) - start[h]
    head_age = np.select([size == 1, size == 2, size <= 4], [rng.integers(35, 79, n_h), rng.integers(30, 79, n_h),
                                                             rng.integers(28, 61, n_h)], rng.integers(32, 59, n_h))
    head_male = rng.random(n_h) < 0.85
    ha, hm = head_age[h], head_male[h]
    u = rng.random(n)
    sex = rng.random(n) < 0.5
    rel = np.full(n, "之子", dtype=object)
    kind = np.full(n, "child", dtype=object)
    kind[pos == 0] = "head"
    p1 = pos == 1
    kind[p1 & (u < 0.85)] = "spouse"
    kind[p1 & (u >= 0.85) & (ha < 50)] = "parent"
    p2 = pos >= 2
    old = p2 & (ha >= 55)
    kind[old & (u < 0.45)] = "grandchild"
    kind[old & (u >= 0.45) & (u < 0.65)] = "inlaw"
    last = pos == size[h] - 1
    kind[p2 & (ha < 45) & last & (u < 0.3)] = "parent"
    age = np.where(kind == "head", ha, 0)
    age = np.where(kind == "spouse", np.maximum(18, ha + rng.integers(-5, 6, n)), age)
    age = np.where(kind == "child", np.maximum(1, ha - rng.integers(20, 39, n)), age)
    age = np.where(kind == "grandchild", np.maximum(1, ha - rng.integers(44, 61, n)), age)
    age = np.where(kind == "inlaw", np.maximum(18, ha - rng.integers(22, 33, n)), age)
    age = np.where(kind == "parent", np.minimum(95, ha + rng.integers(22, 33, n)), age)
    sex = np.where(kind == "head", hm, sex)
    sex = np.where(kind == "spouse", ~hm, sex)
    sex = np.where(kind == "inlaw", False, sex)
    rel = np.select([kind == "head", kind == "spouse", kind == "inlaw",
                     (kind == "child") & sex, kind == "child",
                     (kind == "grandchild") & sex, kind == "grandchild", (kind == "parent") & sex],
                    ["户主", "配偶", "之儿媳", "之子", "之女", "之孙子", "之孙女", "之父"], "之母")
    ref = np.datetime64(f"{anchor - 1}-01-01")
    birth = ref - (age * 365 + age // 4 + rng.integers(0, 365, n)).astype("timedelta64[D]")
    bodies = unique_bodies(rng, county_code, birth, sex)
    ids = id_strings(bodies)

    sur_p = np.array(N.SURNAME_WEIGHTS, dtype=float)
    sur_p /= sur_p.sum()
    surnames = np.array(list(N.SURNAMES), dtype=object)
    head_sur = surnames[rng.choice(len(surnames), n_h, p=sur_p)]
    own = surnames[rng.choice(len(surnames), n, p=sur_p)]
    shares = (kind == "head") | (kind == "child") | (kind == "grandchild") | ((kind == "parent") & sex)
    sur = np.where(shares, head_sur[h], own)
    gm, gf = np.array(list(N.GIVEN_MALE), dtype=object), np.array(list(N.GIVEN_FEMALE), dtype=object)
    g1 = np.where(sex, gm[rng.integers(0, len(gm), n)], gf[rng.integers(0, len(gf), n)])
    g2 = np.where(sex, gm[rng.integers(0, len(gm), n)], gf[rng.integers(0, len(gf), n)])
    two = rng.random(n) < 0.7
    name = sur + g1 + np.where(two, g2, "")

    mem = pd.DataFrame({"id_number": ids, "body": bodies, "h": h, "pos": pos, "name": name, "relation": rel,
                        "male": sex, "age": age, "birth": birth})
    return mem, start


def _education(rng, mem: pd.DataFrame) -> None:
    """Current enrolment records by age (static); no compulsory-stage dropouts in the background."""
    n = len(mem)
    age = mem["age"].to_numpy()
    u, v = rng.random(n), rng.random(n)
    stage = np.full(n, None, dtype=object)
    status = np.full(n, None, dtype=object)
    preschool = (age >= 3) & (age <= 5) & (u < 0.75)
    primary = (age >= 6) & (age <= 11) & (u < 0.99)
    junior = (age >= 12) & (age <= 14) & (u < 0.97)
    senior = (age >= 15) & (age <= 17)
    higher = (age >= 18) & (age <= 22)
    stage[preschool], stage[primary], stage[junior] = "学前", "小学", "初中"
    status[preschool | primary | junior] = "在读"
    s_in = senior & (u < 0.82)
    stage[s_in] = np.where(v[s_in] < 0.6, "高中", "中职")
    status[s_in] = np.where(rng.random(int(s_in.sum())) < 0.01, "休学", "在读")
    s_out = senior & (u >= 0.82) & (u < 0.97)
    stage[s_out], status[s_out] = "初中", "毕业"
    s_drop = senior & (u >= 0.97)
    stage[s_drop], status[s_drop] = np.where(v[s_drop] < 0.5, "高中", "中职"), "辍学"
    h_in = higher & (u < 0.4)
    stage[h_in], status[h_in] = np.where(v[h_in] < 0.4, "高职", "本科及以上"), "在读"
    h_out = higher & (u >= 0.4) & (u < 0.7)
    stage[h_out], status[h_out] = "高中", "毕业"
    mem["stage"], mem["status"] = stage, status


def _skills(rng, mem: pd.DataFrame) -> None:
    n = len(mem)
    age = mem["age"].to_numpy()
    student = (mem["status"] == "在读").to_numpy()
    u = rng.random(n)
    adult = np.select([u < 0.15, u < 0.85, u < 0.93, u < 0.98], [SKILLED, ORDINARY, WEAK, LOST], NONE)
    senior = np.select([u < 0.35, u < 0.80, u < 0.95], [ORDINARY, WEAK, LOST], NONE)
    elderly = np.select([u < 0.20, u < 0.75], [WEAK, LOST], NONE)
    skill = np.select([age < 16, student, age < 60, age < 70], [NONE, NONE, adult, senior], elderly)
    mem["skill"] = skill.astype(object)


def max_below(ratio, size: np.ndarray) -> np.ndarray:
    """The largest k with k/size < ratio (exact arithmetic on the parameter's decimal value)."""
    r = Fraction(str(ratio))
    return np.array([(r * s).__ceil__() - 1 for s in range(0, 10)])[np.minimum(size, 9)] if len(size) else size


def min_at_least(ratio, size: int) -> int:
    """The smallest k with k/size >= ratio."""
    return (Fraction(str(ratio)) * size).__ceil__()


def fix_background(mem: pd.DataFrame, hh: pd.DataFrame, large: int, student_ratio) -> None:
    """Makes every household hit-free on the member-based rules R06, R07 and R08."""
    size = hh["size"].to_numpy()
    h = mem["h"].to_numpy()
    # R08: in households of `large`+ people, students / size stays below the ratio
    student = (mem["status"] == "在读").to_numpy()
    cap = np.where(size >= large, max_below(student_ratio, size), 99)
    st = mem.loc[student, ["h", "age"]].sort_values(["h", "age"], kind="stable")
    st["rank"] = st.groupby("h").cumcount()
    count = np.bincount(h[student], minlength=len(size))
    excess = count - cap
    drop = st.index[(st["rank"].to_numpy() < excess[st["h"].to_numpy()])]
    mem.loc[drop, ["stage", "status"]] = None
    # R06/R07: at least one laborer, at least two when the household is large
    need_total = np.where(size >= large, 2, 1)
    age = mem["age"].to_numpy()
    for relax in (0, 1, 2, 3):
        lab = mem["skill"].isin(LABORER).to_numpy()
        need = need_total - np.bincount(h[lab], minlength=len(size))
        if not (need > 0).any():
            return
        if relax == 3:
            break
        student = (mem["status"] == "在读").to_numpy()
        cand = ~lab & (need[h] > 0)
        if relax == 0:
            cand &= ~student & (age >= 16) & (age <= 80)
        elif relax == 1:
            cand &= age >= 16
        c = mem.loc[cand, ["h", "pos"]].sort_values(["h", "pos"], kind="stable")
        c["rank"] = c.groupby("h").cumcount()
        pick = c.index[c["rank"].to_numpy() < need[c["h"].to_numpy()]]
        mem.loc[pick, "skill"] = np.where(age[pick] < 60, ORDINARY, WEAK)
    raise AssertionError("background households without enough laborers")


def build_county(seed: int, households: int, year: int, county_code: str, *, min_months: int,
                 large: int, student_ratio) -> County:
    anchor = anchor_year(year)
    rng = np.random.default_rng([seed, 0, 451302])
    regions = build_regions(county_code)
    hh = _households(rng, regions, households, county_code, min_months)
    _monitor_months(hh, anchor, min_months)
    mem, start = _members(rng, hh, anchor, county_code)
    _education(rng, mem)
    _skills(rng, mem)
    fix_background(mem, hh, large, student_ratio)
    head = start
    hh["head_name"] = mem["name"].to_numpy()[head]
    hh["head_id_number"] = mem["id_number"].to_numpy()[head]
    return County(regions, hh, mem, start, anchor)
