"""Planted rule hits and near-misses, built by construction.

A *scenario* turns a background household (which hits no rule) into one that hits a known set
of rules, or into a near-miss that sits just on the safe side of one threshold. Scenarios
touching only lasting conditions (income, labour, students, housing, dropouts) are *static*:
chosen and built from a seed-only random stream, so the same households hit them in every
period (持续). Scenarios with events of the period (R03, R04, R12) or year-to-date medical
costs (R05, R09) are drawn afresh for each period; some of them are added on top of static
households (e.g. a household without laborers that also gets a 大病 diagnosis this month).

Every threshold comes from the dated parameters in force on the period's last day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin.generate import names as N
from fangpin.generate.county import LABORER, LOST, NONE, ORDINARY, WEAK, County, max_below, min_at_least

DAY = np.timedelta64(1, "D")
ANY, REGISTERED, GENERAL = (0.45, 0.15, 0.40), (0.75, 0.25, 0.0), (0.0, 0.0, 1.0)
BASE_HOUSEHOLDS = 2000  # scenario counts below are per 2,000 households


@dataclass
class Ctx:
    month: object                  # fangpin.periods.Month
    T: float
    drop_ratio: float
    thr_registered: float
    thr_general: float
    large: int
    student_ratio: float
    severe_grades: tuple
    grade3_types: tuple
    unsafe_grades: tuple
    compulsory: tuple

    @property
    def start(self):
        return np.datetime64(self.month.start)

    @property
    def end(self):
        return np.datetime64(self.month.end)

    @property
    def year_start(self):
        return np.datetime64(self.month.year_start)


@dataclass
class Plan:
    county: County
    ctx: Ctx
    income: np.ndarray
    last: np.ndarray
    skill: np.ndarray
    stage: np.ndarray
    status: np.ndarray
    rows: dict = field(default_factory=lambda: {k: [] for k in ("medical", "disability", "civil_affairs", "housing",
                                                                "health")})
    clear_ytd: set = field(default_factory=set)
    clear_housing: set = field(default_factory=set)
    planted: dict = field(default_factory=dict)     # h -> (set of rules, scenario names)
    near: list = field(default_factory=list)        # (h, rule, 说明)
    used: np.ndarray = None

    def __post_init__(self):
        if self.used is None:
            self.used = np.zeros(len(self.county.hh), dtype=bool)

    # ---- household access -------------------------------------------------------------------
    def members(self, h: int) -> np.ndarray:
        s = int(self.county.start[h])
        return np.arange(s, s + int(self.county.hh["size"].iat[h]))

    def age(self, p):
        return self.county.mem["age"].to_numpy()[p]

    def size(self, h: int) -> int:
        return int(self.county.hh["size"].iat[h])

    def registered(self, h: int) -> bool:
        return int(self.county.hh["cat"].iat[h]) < 2

    def threshold(self, h: int) -> float:
        return self.ctx.thr_registered if self.registered(h) else self.ctx.thr_general

    def hit(self, h: int, rules, name: str) -> None:
        rules_old, names = self.planted.get(h, (set(), []))
        self.planted[h] = (rules_old | set(rules), names + [name])


# ---- building blocks ----------------------------------------------------------------------------

def _r2(x) -> float:
    return float(np.round(x, 2))


def _date_in(rng, lo, hi) -> np.datetime64:
    return lo + int(rng.integers(0, int((hi - lo) / DAY) + 1)) * DAY


def set_low_income(plan: Plan, h: int, rng, gap: float | None = None) -> None:
    g = _r2(rng.uniform(50, 3000))
    gap = g if gap is None else gap
    plan.income[h] = max(_r2(plan.ctx.T - gap), 1.0)
    plan.last[h] = _r2(plan.income[h] * rng.uniform(0.95, 1.25))


def set_drop(plan: Plan, h: int, rng) -> None:
    d = rng.uniform(0.32, 0.6)
    plan.last[h] = _r2(plan.income[h] / (1 - d))


def set_no_laborer(plan: Plan, h: int) -> None:
    for p in plan.members(h):
        plan.skill[p] = LOST if plan.age(p) >= 16 else NONE


def set_laborers(plan: Plan, h: int, keep: list[int]) -> None:
    """Exactly the members in `keep` are laborers."""
    for p in plan.members(h):
        if p in keep:
            plan.skill[p] = ORDINARY if plan.age(p) < 60 else WEAK
        else:
            plan.skill[p] = LOST if plan.age(p) >= 16 else NONE


def _stage_for(age: int) -> str:
    return "学前" if age <= 5 else "小学" if age <= 11 else "初中" if age <= 14 else "高中" if age <= 17 \
        else "本科及以上" if age <= 22 else "高职"


def set_students(plan: Plan, h: int, k: int) -> list[int]:
    """Exactly k members (not the head; youngest first) are students (在读); returns them."""
    ms = plan.members(h)
    others = sorted(ms[1:], key=lambda p: (plan.age(p), p))
    chosen = others[:k]
    for p in ms:
        if p in chosen:
            plan.stage[p], plan.status[p] = _stage_for(int(plan.age(p))), "在读"
            plan.skill[p] = NONE
        elif plan.status[p] == "在读":
            plan.stage[p], plan.status[p] = None, None
    return chosen


def set_dropout(plan: Plan, h: int, stage: str, ages: tuple[int, int]) -> None:
    ms = plan.members(h)
    cands = [p for p in ms[1:] if ages[0] <= plan.age(p) <= ages[1]] or list(ms[1:]) or list(ms)
    p = min(cands, key=lambda q: (abs(plan.age(q) - (ages[0] + ages[1]) / 2), q))
    plan.stage[p], plan.status[p] = stage, "辍学"   # labour skill unchanged (R06/R07 stay as they were)


def set_housing(plan: Plan, h: int, grades_dates: list[tuple[str, np.datetime64]]) -> None:
    plan.clear_housing.add(h)
    for g, d in grades_dates:
        plan.rows["housing"].append({"h": h, "grade": g, "appraisal_date": d})


def add_person_row(plan: Plan, feed: str, p: int, **values) -> None:
    plan.rows[feed].append({"person": int(p), "h": int(plan.county.mem["h"].iat[p]), **values})


def set_ytd_medical(plan: Plan, h: int, rng, amounts: dict[int, list[int]]) -> float:
    """Replaces the household's year-to-date settlements: {member: [out-of-pocket in cents, ...]}."""
    plan.clear_ytd.add(h)
    total = 0
    for p, cents_list in amounts.items():
        for cents in cents_list:
            d = _date_in(rng, plan.ctx.year_start, plan.ctx.end)
            stay = int(rng.integers(2, 25))
            ratio = rng.uniform(0.25, 0.6)
            oop = cents / 100
            add_person_row(plan, "medical", p, admission_date=d - stay * DAY, discharge_date=d,
                           total_cost=float(np.ceil(oop / ratio)), out_of_pocket=oop)
            total += cents
    return total / 100


def protect_r09(plan: Plan, h: int, rng, household_oop: float) -> None:
    """Raises income (when at or above T) so that income after medical costs stays above T."""
    margin, r = rng.uniform(300, 3000), rng.uniform(0.9, 1.2)
    if plan.income[h] >= plan.ctx.T:
        plan.income[h] = max(plan.income[h], _r2(plan.ctx.T + household_oop / plan.size(h) + margin))
        plan.last[h] = _r2(plan.income[h] * r)


def _split(cents: int, parts: int) -> list[int]:
    base = cents // parts
    return [base] * (parts - 1) + [cents - base * (parts - 1)]


def set_oop_hit(plan: Plan, h: int, rng, exact: bool = False, protect: bool = True) -> None:
    thr = plan.threshold(h)
    p = int(rng.choice(plan.members(h)))
    factor, parts = rng.uniform(1.0, 2.2), int(rng.integers(1, 4))
    cents = int(round(thr * 100)) if exact else int(np.ceil(thr * factor * 100))
    total = set_ytd_medical(plan, h, rng, {p: [cents] if exact else _split(cents, parts)})
    if protect:
        protect_r09(plan, h, rng, total)


def set_r09(plan: Plan, h: int, rng, with_r05: bool = False) -> None:
    size, thr, T = plan.size(h), plan.threshold(h), plan.ctx.T
    k = int(rng.integers(100, 501)) if with_r05 else int(rng.integers(200, 901))
    extra = int(rng.integers(100, 2000))
    r = rng.uniform(0.9, 1.2)
    plan.income[h] = float(T + k)
    plan.last[h] = _r2(plan.income[h] * r)
    ms = plan.members(h)
    need = size * k + extra                    # household sum > size * (income - T)
    if with_r05:
        p = int(rng.choice(ms))
        set_ytd_medical(plan, h, rng, {p: [int(max(thr, need) * 100)]})
    else:
        who = list(ms[:2])
        set_ytd_medical(plan, h, rng, {p: [c] for p, c in zip(who, _split(need * 100, len(who)))})


def set_disability(plan: Plan, h: int, rng, severe: bool = True) -> None:
    c = plan.ctx
    p = int(rng.choice(plan.members(h)))
    combos = [(g, t) for g in c.severe_grades for t in ("肢体", "视力", "多重")] + \
             [("三级", t) for t in c.grade3_types]
    g, t = combos[int(rng.integers(0, len(combos)))]
    add_person_row(plan, "disability", p, disability_type=t, disability_grade=g,
                   issue_date=_date_in(rng, c.start, c.end))


def set_assistance(plan: Plan, h: int, rng) -> None:
    c = plan.ctx
    ms = plan.members(h)
    u = rng.random()
    d = _date_in(rng, c.start, c.end)
    old = [p for p in ms if plan.age(p) >= 60]
    kids = [p for p in ms if plan.age(p) < 18]
    if u < 0.15 and old:
        add_person_row(plan, "civil_affairs", old[0], assistance_type="特困", start_date=d)
    elif u < 0.25 and kids:
        add_person_row(plan, "civil_affairs", kids[0], assistance_type="孤儿", start_date=d)
    else:
        for p in ms:
            add_person_row(plan, "civil_affairs", p, assistance_type="低保", start_date=d)


def set_major_disease(plan: Plan, h: int, rng, when=None, cls="大病") -> None:
    c = plan.ctx
    p = int(rng.choice(plan.members(h)))
    names = N.MAJOR_DISEASES if cls == "大病" else N.CHRONIC_DISEASES
    disease = names[int(rng.integers(0, len(names)))]
    d = _date_in(rng, c.start, c.end)
    add_person_row(plan, "health", p, disease=disease, disease_class=cls, diagnosis_date=d if when is None else when)


def set_unsafe_housing(plan: Plan, h: int, rng) -> None:
    e = plan.ctx.end
    d_bad = e - int(rng.integers(5, 400)) * DAY
    d_old = d_bad - int(rng.integers(300, 1200)) * DAY
    bad = plan.ctx.unsafe_grades[0] if rng.random() < 0.7 else plan.ctx.unsafe_grades[-1]
    rows = [("A", d_old), (bad, d_bad)] if rng.random() < 0.5 else [(bad, d_bad)]
    set_housing(plan, h, rows)


# ---- scenarios ----------------------------------------------------------------------------------

def _r01(plan, h, rng, i):
    set_low_income(plan, h, rng, gap=0.01 if i == 0 else None)


def _r02(plan, h, rng, i):
    if i == 0:  # just over the threshold: drop of 30.01%
        m = int(np.ceil(plan.ctx.T / 6999)) + 1
        plan.last[h], plan.income[h] = 10000.0 * m, 6999.0 * m
        set_ytd_medical(plan, h, rng, {})  # a lower income must not meet earlier medical costs (R09)
        rng.uniform(0.32, 0.6)
    else:
        set_drop(plan, h, rng)


def _r06(plan, h, rng, i):
    set_no_laborer(plan, h)


def _r07(plan, h, rng, i):
    set_laborers(plan, h, [plan.members(h)[0]])


def _r08(plan, h, rng, i):
    k = min_at_least(plan.ctx.student_ratio, plan.size(h))
    students = set_students(plan, h, k)
    rest = [p for p in plan.members(h) if p not in students]
    set_laborers(plan, h, rest)
    if len(rest) < 2:   # an older student who also works keeps the household off R07
        p = max(students, key=lambda q: (plan.age(q), q))
        plan.skill[p] = WEAK


def _r10(plan, h, rng, i):
    set_unsafe_housing(plan, h, rng)


def _r11(plan, h, rng, i):
    stage = plan.ctx.compulsory[i % len(plan.ctx.compulsory)]
    set_dropout(plan, h, stage, (7, 11) if stage == "小学" else (12, 15))


def _r01_r02(plan, h, rng, i):
    set_low_income(plan, h, rng)
    set_drop(plan, h, rng)


def _r07_r08(plan, h, rng, i):
    k = min_at_least(plan.ctx.student_ratio, plan.size(h))
    set_students(plan, h, k)
    set_laborers(plan, h, [plan.members(h)[0]])


def _r02_r10_r11(plan, h, rng, i):
    set_drop(plan, h, rng)
    set_unsafe_housing(plan, h, rng)
    set_dropout(plan, h, plan.ctx.compulsory[-1], (12, 15))


def _r06_r10(plan, h, rng, i):
    set_no_laborer(plan, h)
    set_unsafe_housing(plan, h, rng)


def _r03(plan, h, rng, i):
    set_disability(plan, h, rng)


def _r04(plan, h, rng, i):
    set_assistance(plan, h, rng)


def _r05(plan, h, rng, i):
    set_oop_hit(plan, h, rng, exact=(i == 0))


def _r09(plan, h, rng, i):
    set_r09(plan, h, rng)


def _r12(plan, h, rng, i):
    set_major_disease(plan, h, rng)


def _r05_r09(plan, h, rng, i):
    set_r09(plan, h, rng, with_r05=True)


def _r03_r04_r12(plan, h, rng, i):
    set_disability(plan, h, rng)
    set_assistance(plan, h, rng)
    set_major_disease(plan, h, rng)


def _r03_r05(plan, h, rng, i):
    set_disability(plan, h, rng)
    set_oop_hit(plan, h, rng)


def _has(plan: Plan, lo: int, hi: int) -> np.ndarray:
    """Households with a non-head member aged lo..hi."""
    mem = plan.county.mem
    ok = (mem["pos"].to_numpy() > 0) & (mem["age"].to_numpy() >= lo) & (mem["age"].to_numpy() <= hi)
    return np.bincount(mem["h"].to_numpy()[ok], minlength=len(plan.county.hh)) > 0


def _predicates(plan: Plan) -> dict[str, np.ndarray]:
    size = plan.county.hh["size"].to_numpy()
    L = plan.ctx.large
    return {"any": np.ones(len(size), dtype=bool), "small": size <= 3, "large": size >= L, "multi": size >= 2,
            "size_L": size == L, "size_L-1": size == L - 1, "child": _has(plan, 7, 15), "teen": _has(plan, 15, 18),
            "large_child": (size >= L) & _has(plan, 12, 15)}


# (name, rules, category weights, predicate, count per 2,000 households, builder)
STATIC = (
    ("R01", {"R01"}, ANY, "any", 16, _r01),
    ("R02", {"R02"}, ANY, "any", 10, _r02),
    ("R06", {"R06"}, ANY, "small", 12, _r06),
    ("R07", {"R07"}, ANY, "large", 8, _r07),
    ("R08", {"R08"}, ANY, "large", 8, _r08),
    ("R10", {"R10"}, ANY, "any", 12, _r10),
    ("R11", {"R11"}, ANY, "child", 8, _r11),
    ("R01+R02", {"R01", "R02"}, ANY, "any", 6, _r01_r02),
    ("R07+R08", {"R07", "R08"}, ANY, "large", 5, _r07_r08),
    ("R02+R10+R11", {"R02", "R10", "R11"}, ANY, "child", 4, _r02_r10_r11),
    ("R06+R10", {"R06", "R10"}, ANY, "small", 4, _r06_r10),
)
PERIOD = (
    ("R03", {"R03"}, ANY, "any", 12, _r03),
    ("R04", {"R04"}, ANY, "any", 12, _r04),
    ("R05/脱贫户监测户", {"R05"}, REGISTERED, "any", 8, _r05),
    ("R05/一般农户", {"R05"}, GENERAL, "any", 6, _r05),
    ("R09", {"R09"}, ANY, "any", 12, _r09),
    ("R12", {"R12"}, ANY, "any", 12, _r12),
    ("R05+R09", {"R05", "R09"}, ANY, "any", 5, _r05_r09),
    ("R03+R04+R12", {"R03", "R04", "R12"}, ANY, "any", 4, _r03_r04_r12),
    ("R03+R05", {"R03", "R05"}, ANY, "any", 4, _r03_r05),
)
# events of the period added to households of a static scenario: (on scenario, rule, count, builder)
ADD_ONS = (
    ("R06", "R12", 3, lambda plan, h, rng: set_major_disease(plan, h, rng)),
    ("R10", "R03", 3, lambda plan, h, rng: set_disability(plan, h, rng)),
    ("R01", "R05", 3, lambda plan, h, rng: set_oop_hit(plan, h, rng, protect=False)),
    ("R02", "R04", 3, lambda plan, h, rng: set_assistance(plan, h, rng)),
)


# ---- near-misses ----------------------------------------------------------------------------------

def _nm_income_t(plan, h, rng):
    plan.income[h] = float(plan.ctx.T)
    plan.last[h] = _r2(plan.ctx.T * rng.uniform(0.9, 1.15))
    set_ytd_medical(plan, h, rng, {})  # at exactly T any medical cost would hit R09
    return f"人均纯收入恰为监测范围{plan.ctx.T:g}元（不低于）"


def _nm_drop_2999(plan, h, rng):
    m = int(np.ceil(plan.ctx.T / 7001)) + 1
    plan.last[h], plan.income[h] = 10000.0 * m, 7001.0 * m
    set_ytd_medical(plan, h, rng, {})
    return f"收入降幅29.99%（上年{10000 * m}元，本年{7001 * m}元），未达{plan.ctx.drop_ratio:.0%}"


def _nm_last_zero(plan, h, rng):
    plan.last[h] = 0.0
    return "上年人均纯收入为0，不计算降幅"


def _nm_weak_only(plan, h, rng):
    ms = plan.members(h)
    set_laborers(plan, h, [])
    plan.skill[ms[0]] = WEAK
    return "唯一劳动力为弱劳动力或半劳动力（仍算劳动力）"


def _nm_size4_one(plan, h, rng):
    set_laborers(plan, h, [plan.members(h)[0]])
    return f"{plan.size(h)}人户仅一个劳动力，未达{plan.ctx.large}人"


def _nm_two_laborers(plan, h, rng):
    ms = plan.members(h)
    adults = [p for p in ms[1:] if plan.age(p) >= 16 and plan.status[p] != "在读"] or list(ms[1:])
    set_laborers(plan, h, [ms[0], adults[0]])
    return f"{plan.size(h)}人户有两个劳动力"


def _nm_students_below(plan, h, rng):
    k = int(max_below(plan.ctx.student_ratio, np.array([plan.size(h)]))[0])
    students = set_students(plan, h, k)
    set_laborers(plan, h, [p for p in plan.members(h) if p not in students])
    return f"在校生{k}/{plan.size(h)}={k / plan.size(h):.2f}，低于{plan.ctx.student_ratio:g}"


def _nm_students_small(plan, h, rng):
    k = min_at_least(plan.ctx.student_ratio, plan.size(h))
    students = set_students(plan, h, k)
    set_laborers(plan, h, [p for p in plan.members(h) if p not in students])
    return f"在校生{k}/{plan.size(h)}达到比例，但家庭不足{plan.ctx.large}人"


def _nm_housing_repaired(plan, h, rng):
    e = plan.ctx.end
    d_c = e - int(rng.integers(400, 800)) * DAY
    d_a = d_c + int(rng.integers(30, 300)) * DAY
    set_housing(plan, h, [(plan.ctx.unsafe_grades[0], d_c), ("A", d_a)])
    return f"{plan.ctx.unsafe_grades[0]}级鉴定后又有更晚的A级鉴定（最新为A）"


def _nm_dropout_senior(plan, h, rng):
    set_dropout(plan, h, "高中", (15, 18))
    return "高中阶段辍学（非义务教育）"


def _nm_limb3(plan, h, rng):
    grade = next(g for g in F.DISABILITY_GRADES if g not in plan.ctx.severe_grades)
    kind = next(t for t in ("肢体", "视力", "听力") if t not in plan.ctx.grade3_types)
    p = int(rng.choice(plan.members(h)))
    add_person_row(plan, "disability", p, disability_type=kind, disability_grade=grade,
                   issue_date=_date_in(rng, plan.ctx.start, plan.ctx.end))
    return f"本期新发{grade}{kind}残疾证（非重度）"


def _nm_grade4(plan, h, rng):
    p = int(rng.choice(plan.members(h)))
    t = plan.ctx.grade3_types[0]
    add_person_row(plan, "disability", p, disability_type=t, disability_grade="四级",
                   issue_date=_date_in(rng, plan.ctx.start, plan.ctx.end))
    return f"本期新发四级{t}残疾证（非重度）"


def _nm_disability_before(plan, h, rng):
    p = int(rng.choice(plan.members(h)))
    g = plan.ctx.severe_grades[0]
    d = plan.ctx.start - DAY
    add_person_row(plan, "disability", p, disability_type="肢体", disability_grade=g, issue_date=d)
    return f"{g}残疾证发证日期为本期前一日"


def _nm_assistance_before(plan, h, rng):
    d = plan.ctx.start - DAY
    for p in plan.members(h):
        add_person_row(plan, "civil_affairs", p, assistance_type="低保", start_date=d)
    return "低保起始日期为上月最后一日"


def _nm_oop(amount_of):
    def build(plan, h, rng):
        amount = amount_of(plan)
        p = int(rng.choice(plan.members(h)))
        total = set_ytd_medical(plan, h, rng, {p: [int(round(amount * 100))]})
        protect_r09(plan, h, rng, total)
        return f"成员年内住院自付{amount:.2f}元，未达{plan.threshold(h):g}元"
    return build


def _nm_oop_split(plan, h, rng):
    thr = plan.ctx.thr_registered
    each = int(round(thr * 0.6 * 100))
    ms = plan.members(h)
    total = set_ytd_medical(plan, h, rng, {int(ms[0]): [each], int(ms[1]): [each]})
    protect_r09(plan, h, rng, total)
    return f"两名成员各自付{each / 100:.2f}元，家庭合计达{thr:g}元但无一人达到"


def _nm_oop_last_year(plan, h, rng):
    thr = plan.ctx.thr_registered
    p = int(rng.choice(plan.members(h)))
    set_ytd_medical(plan, h, rng, {})
    d = plan.ctx.year_start - DAY
    oop = float(round(thr * 1.6, 2))
    add_person_row(plan, "medical", p, admission_date=d - 10 * DAY, discharge_date=d, total_cost=oop * 3,
                   out_of_pocket=oop)
    return f"自付{oop:.2f}元的住院于上年12月31日出院，不计入本年"


def _nm_r09_exact(plan, h, rng):
    size, T = plan.size(h), plan.ctx.T
    k = int(rng.integers(300, 901))
    plan.income[h] = float(T + k)
    plan.last[h] = float(T + k)
    ms = plan.members(h)
    who = list(ms[:2])
    set_ytd_medical(plan, h, rng, {p: [c] for p, c in zip(who, _split(size * k * 100, len(who)))})
    return f"扣除自付{size * k}元后人均恰为{T:g}元（不低于）"


def _nm_chronic(plan, h, rng):
    set_major_disease(plan, h, rng, cls="慢性病")
    return "本期确诊慢性病（非大病）"


def _nm_major_before(plan, h, rng):
    set_major_disease(plan, h, rng, when=plan.ctx.start - DAY)
    return "大病确诊日期为上月最后一日"


# (name, rule it must NOT hit, category weights, predicate, builder)
STATIC_NEAR = (
    ("income_is_T", "R01", ANY, "any", _nm_income_t),
    ("drop_29.99", "R02", ANY, "any", _nm_drop_2999),
    ("last_income_0", "R02", ANY, "any", _nm_last_zero),
    ("weak_only", "R06", ANY, "small", _nm_weak_only),
    ("size4_one_laborer", "R07", ANY, "size_L-1", _nm_size4_one),
    ("large_two_laborers", "R07", ANY, "large", _nm_two_laborers),
    ("students_below", "R08", ANY, "size_L", _nm_students_below),
    ("students_small", "R08", ANY, "size_L-1", _nm_students_small),
    ("housing_repaired", "R10", ANY, "any", _nm_housing_repaired),
    ("dropout_senior", "R11", ANY, "teen", _nm_dropout_senior),
)
PERIOD_NEAR = (
    ("grade3_limb", "R03", ANY, "any", _nm_limb3),
    ("grade4", "R03", ANY, "any", _nm_grade4),
    ("disability_day_before", "R03", ANY, "any", _nm_disability_before),
    ("assistance_last_month", "R04", ANY, "any", _nm_assistance_before),
    ("oop_4999.99", "R05", REGISTERED, "any", _nm_oop(lambda plan: plan.ctx.thr_registered - 0.01)),
    ("oop_19999.99", "R05", GENERAL, "any", _nm_oop(lambda plan: plan.ctx.thr_general - 0.01)),
    ("oop_general_6000", "R05", GENERAL, "any", _nm_oop(lambda plan: plan.ctx.thr_registered * 1.2)),
    ("oop_split", "R05", REGISTERED, "multi", _nm_oop_split),
    ("oop_last_year", "R05", REGISTERED, "any", _nm_oop_last_year),
    ("r09_exactly_T", "R09", ANY, "any", _nm_r09_exact),
    ("chronic", "R12", ANY, "any", _nm_chronic),
    ("major_last_month", "R12", ANY, "any", _nm_major_before),
)
NEAR_PER_BASE = 3


def scaled(count: int, households: int, minimum: int = 2) -> int:
    return max(minimum, int(round(count * households / BASE_HOUSEHOLDS)))


def select(plan: Plan, rng, count: int, weights, pred: np.ndarray) -> np.ndarray:
    """`count` unused households satisfying `pred`, categories drawn with `weights`."""
    cat = plan.county.hh["cat"].to_numpy()
    w = np.array(weights, dtype=float)
    draws = np.bincount(rng.choice(3, count, p=w / w.sum()), minlength=3)
    chosen = []
    short = 0
    for k in range(3):
        cands = np.flatnonzero(~plan.used & pred & (cat == k))
        take = min(int(draws[k]), len(cands))
        short += int(draws[k]) - take
        if take:
            pick = rng.choice(cands, take, replace=False)
            plan.used[pick] = True
            chosen.append(pick)
    if short:
        allowed = np.isin(cat, np.flatnonzero(w > 0))
        cands = np.flatnonzero(~plan.used & pred & allowed)
        pick = rng.choice(cands, min(short, len(cands)), replace=False)
        plan.used[pick] = True
        chosen.append(pick)
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)


def plant_static(plan: Plan, seed: int) -> None:
    """Static scenarios and near-misses: a seed-only stream, the same households every period."""
    rng = np.random.default_rng([seed, 3, 451302])
    preds = _predicates(plan)
    n = len(plan.county.hh)
    for name, rules, w, pred, base, build in STATIC:
        for i, h in enumerate(select(plan, rng, scaled(base, n), w, preds[pred])):
            build(plan, int(h), rng, i)
            plan.hit(int(h), rules, name)
    for name, rule, w, pred, build in STATIC_NEAR:
        for h in select(plan, rng, scaled(NEAR_PER_BASE, n), w, preds[pred]):
            plan.near.append((int(h), rule, build(plan, int(h), rng), name))


def plant_period(plan: Plan, rng) -> None:
    """Events of the period: add-ons to static households, period scenarios and near-misses."""
    preds = _predicates(plan)
    n = len(plan.county.hh)
    by_scenario: dict[str, list[int]] = {}
    for h, (_, names) in sorted(plan.planted.items()):
        by_scenario.setdefault(names[0], []).append(h)
    for on, rule, base, build in ADD_ONS:
        pool = [h for h in by_scenario.get(on, []) if on != "R01" or plan.registered(h)]
        k = min(len(pool), scaled(base, n, minimum=1))
        for h in (rng.choice(pool, k, replace=False) if k else []):
            build(plan, int(h), rng)
            plan.hit(int(h), {rule}, f"+{rule}")
    for name, rules, w, pred, base, build in PERIOD:
        for i, h in enumerate(select(plan, rng, scaled(base, n), w, preds[pred])):
            build(plan, int(h), rng, i)
            plan.hit(int(h), rules, name)
    for name, rule, w, pred, build in PERIOD_NEAR:
        for h in select(plan, rng, scaled(NEAR_PER_BASE, n), w, preds[pred]):
            plan.near.append((int(h), rule, build(plan, int(h), rng), name))


def risk_level(rules, high_rules, high_min, medium_rules, medium_hits) -> str:
    """The contract's default policy (section 2), with the risk.* parameters."""
    rules = set(rules)
    if rules & set(high_rules) or len(rules) >= high_min:
        return "高"
    if rules & set(medium_rules) or len(rules) == medium_hits:
        return "中"
    return "低"
