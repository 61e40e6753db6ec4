"""The registry's own story: the month's new decisions (拟纳入 / 拟消除), planted registry-audit
doubts (疑点, checks A01–A12 of data contract section 2b) and the county reviewers' results
(`review_results`) for the households the decision review drew.

Decisions (one-shot deliveries; the living county makes its own): each month a few 监测户 are
newly identified (识别监测时间 = the period) and a few are cleared (风险是否已消除 是, 消除监测时间
= the period), so the county's sample review (fangpin.review) has something to draw.

Audit doubts: for every check a few households (`AUDIT_PER_BASE` per 2,000, at least 2) are
edited so that they are flagged, by construction:

| check | edit |
|---|---|
| A01 | an eliminated 监测户 (or one eliminated for it) gets an income below T (also R01, in the screening key) |
| A02 | identified and eliminated 1 to (min − 1) months apart |
| A03 | 是 without 消除监测时间, or 消除监测时间 with 否 |
| A04 | a 脱贫户/一般农户 with 监测对象类别, 风险是否已消除 or 消除监测时间 filled |
| A05 | 风险类型 因病 for a 监测户 without any medical or 大病/慢性病 row |
| A06 | 风险类型 缺劳动力 for a 监测户 with more than the share of laborers |
| A07 | an eliminated 监测户 whose members are all without labour (also R06) |
| A08 | a monitored 监测户 without labour (also R06) and without 低保/特困 rows |
| A09 | a member under the age (by ID birth date) marked 普通劳动力 |
| A10 | a second 户主, or none |
| A11 | a member of the head's sex marked 配偶 |
| A12 | (limit + 1) households given one phone number |

In a small county there are few 监测户 to plant on: `top_up` first makes some background
households 监测户 (identified in 2024), before the period's department rows are drawn.

Months the plants write are never the period itself (no plant is a decision of the month), and
planted households are never given a defect. The audit answer key is not the planting alone:
`fangpin.generate.expect.evaluate_audit` applies A01–A12 to the accepted rows, so incidental
doubts of the background (e.g. 因病 without a hospital stay) are listed too; the generator checks
that every planted doubt is among them.

Choices come from their own random streams and hashes of the seed (household choices from one
key per household: the same households every month while they qualify). The households used
here are taken out of the period's planting that follows (plant.plant_period).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin.generate.county import LABORER, ORDINARY
from fangpin.generate.plant import scaled, set_low_income, set_no_laborer
from fangpin.periods import Month

AUDIT_PER_BASE = 3          # planted households per check per 2,000 households (at least 2)
PHONE_GROUPS_PER_BASE = 1   # A12 groups per 2,000 households (at least 1)
DECISIONS_PER_BASE = 10     # new 拟纳入 and as many 拟消除 a month per 2,000 households (one-shot)
INACCURATE = 0.12           # share of reviewed decisions found 认定不准确
INACCURATE_NOTES = ("收入核算有误，实际人均纯收入高于监测范围", "家庭人口与户籍信息不一致",
                    "风险消除依据不足，帮扶措施未落实到位", "未提供务工收入佐证材料")
PLANT_STREAM = 4
FIXED_MONTH = 2025 * 12       # 2025-01: months the doubts write fall in the year from here


def _u(seed: int, *key) -> float:
    digest = hashlib.blake2b("|".join(str(k) for k in (seed, *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def _index(m: Month) -> int:
    return m.year * 12 + m.month - 1


def month_text(i: int) -> str:
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def month_index(values) -> np.ndarray:
    """'2026-07' -> year*12 + month-1 (NaN when empty)."""
    s = pd.Series(values, dtype=object)
    y = pd.to_numeric(s.str[:4], errors="coerce")
    m = pd.to_numeric(s.str[5:7], errors="coerce")
    return (y * 12 + m - 1).to_numpy(dtype=float)


def _ranked(cands: np.ndarray, n: int, seed: int, stream: int) -> np.ndarray:
    """Candidates (household positions) in the order of one random key per household of the
    county, from the stream (seed, stream): the same county gets the same keys every month."""
    keys = np.random.default_rng([seed, PLANT_STREAM, stream, 451302]).random(n)
    return cands[np.argsort(keys[cands], kind="stable")]


# ---- enough 监测户 to plant on ---------------------------------------------------------------------

MONITORED_CHECKS = 7        # checks planted on 监测户 (A01–A03, A05–A08)
SPARE = 4                   # and spare 监测户 per check size: A05 and A06 need more than being monitored


def top_up(hh: pd.DataFrame, used: np.ndarray, month: Month, seed: int, min_months: int, decisions: bool) -> int:
    """Makes enough open 监测户 (identified at least min_months before the period, not planted)
    for the month's decisions and the doubts planted on 监测户: in a small county, background
    脱贫户 (as 脱贫不稳定户) and 一般农户 (as 边缘易致贫户) identified in 2024 become 监测户, in the
    order of a seed-only key. Before the period's department rows are drawn, as the living
    county's conversions, so year-to-date costs follow the new category. Returns how many."""
    n = len(hh)
    now = _index(month)
    need = (MONITORED_CHECKS + SPARE) * scaled(AUDIT_PER_BASE, n)
    need += 2 * scaled(DECISIONS_PER_BASE, n) if decisions else 0
    ident = month_index(hh["identified_month"].to_numpy())
    cat = hh["cat"].to_numpy()
    ok = (cat == 1) & (hh["risk_eliminated"].to_numpy() == "否") & (ident + min_months <= now - 1) & ~used
    short = need - int(ok.sum())
    if short <= 0:
        return 0
    chosen = _ranked(np.flatnonzero((cat != 1) & ~used), n, seed, 99)[:short]
    for h in chosen:
        v = _u(seed, "top-up", hh.at[h, "household_id"])
        hh.at[h, "monitor_type"] = F.MONITOR_TYPES[0] if int(hh.at[h, "cat"]) == 0 else F.MONITOR_TYPES[1]
        hh.at[h, "cat"], hh.at[h, "category"] = 1, F.CAT_MONITORED
        hh.at[h, "identified_month"] = month_text(min(now - 1 - min_months, FIXED_MONTH - 12 + int(v * 12)))
        hh.at[h, "risk_eliminated"], hh.at[h, "eliminated_month"] = "否", None
        hh.at[h, "measures"] = max(1, int(hh.at[h, "measures"]))
    return len(chosen)


# ---- the month's decisions (one-shot deliveries) ------------------------------------------------

def month_decisions(hh: pd.DataFrame, used: np.ndarray, month: Month, seed: int, min_months: int) \
        -> tuple[np.ndarray, np.ndarray]:
    """(newly identified, newly cleared) household positions of `month`: from the open 监测户 not
    planted, in the order of random keys of (seed, month); the cleared ones identified at least
    `min_months` before. Pure: depends on the county as built, the static planting and the month."""
    k = scaled(DECISIONS_PER_BASE, len(hh))
    now = _index(month)
    open_ = (hh["cat"].to_numpy() == 1) & (hh["risk_eliminated"].to_numpy() == "否") & ~used
    order = _ranked(np.flatnonzero(open_), len(hh), seed, 100 + now)
    new_in = order[:k]
    ident = month_index(hh["identified_month"].to_numpy())
    rest = order[k:]
    new_out = rest[ident[rest] + min_months <= now][:k]
    return np.sort(new_in), np.sort(new_out)


def apply_decisions(hh: pd.DataFrame, new_in, new_out, month: Month) -> None:
    p = str(month)
    for h in new_in:
        hh.at[h, "identified_month"], hh.at[h, "risk_eliminated"], hh.at[h, "eliminated_month"] = p, "否", None
    for h in new_out:
        hh.at[h, "risk_eliminated"], hh.at[h, "eliminated_month"] = "是", p


# ---- planted audit doubts ---------------------------------------------------------------------------

class AuditPlan:
    """Registry edits for A01–A12 on one delivery; `planted` = {h: set of check codes}."""

    def __init__(self, plan, hh: pd.DataFrame, month: Month, seed: int, params: dict):
        self.plan, self.hh, self.month, self.seed, self.params = plan, hh, month, seed, params
        self.rng = np.random.default_rng([seed, PLANT_STREAM, 0, month.year * 12 + month.month])
        self.now = _index(month)
        self.k = scaled(AUDIT_PER_BASE, len(hh))
        self.planted: dict[int, set] = {}
        self.relations: dict[int, str] = {}          # member position -> 与户主关系
        self.clear_civil: set[int] = set()           # households whose 低保/特困 rows are dropped
        self.hids = hh["household_id"].to_numpy()

    # helpers
    def _take(self, cond: np.ndarray, code: str, k: int | None = None) -> np.ndarray:
        chosen = _ranked(np.flatnonzero(cond & ~self.plan.used), len(self.hh), self.seed, int(code[1:]))
        chosen = chosen[: self.k if k is None else k]
        self.plan.used[chosen] = True
        for h in chosen:
            self.planted.setdefault(int(h), set()).add(code)
        return chosen

    def _cat(self) -> np.ndarray:
        return self.hh["cat"].to_numpy()

    def _risk(self) -> np.ndarray:
        return self.hh["risk_eliminated"].to_numpy()

    def _ident(self) -> np.ndarray:
        return month_index(self.hh["identified_month"].to_numpy())

    def _v(self, code: str, h) -> float:
        """A number in [0, 1) fixed by the seed, the check and the household (not the month: in the
        living county a planted doubt stays the same from month to month)."""
        return _u(self.seed, "audit-value", code, self.hids[h])

    def _month_before(self, code: str, h, span: int = 12) -> int:
        """A month before the period: in the year from 2025-01, or the month before the period."""
        return min(self.now - 1, FIXED_MONTH + int(self._v(code, h) * span))

    def _eliminate(self, h: int, code: str) -> None:
        """Eliminated in a month at least min_months after identification, before the period."""
        ident = int(month_index([self.hh.at[h, "identified_month"]])[0])
        lo, hi = ident + self.params["min_months"], self.now - 1
        em = lo + int(self._v(code, h) * (min(hi, lo + 11) - lo + 1))
        self.hh.at[h, "risk_eliminated"], self.hh.at[h, "eliminated_month"] = "是", month_text(em)

    def registry(self) -> None:
        """The edits made before the period's department rows are drawn (registry, skills,
        relations, phones). A01 and A07/A08 add R01 / R06 to the planted screening hits."""
        plan, hh, m = self.plan, self.hh, self.params["min_months"]
        cat, risk, ident = self._cat(), self._risk(), self._ident()
        monitored = cat == 1
        can_eliminate = monitored & (risk == "否") & (ident + m <= self.now - 1)
        # A01: eliminated, income below T
        for h in self._take(monitored & ((risk == "是") | can_eliminate), "A01"):
            if hh.at[h, "risk_eliminated"] != "是":
                self._eliminate(int(h), "A01")
            set_low_income(plan, int(h), self.rng)
            plan.hit(int(h), {"R01"}, "疑点A01")
        # A02: eliminated too soon
        for h in self._take(monitored, "A02"):
            gap = 1 + int(self._v("A02-gap", h) * (m - 1))
            em = self._month_before("A02", h)
            hh.at[h, "identified_month"], hh.at[h, "eliminated_month"] = month_text(em - gap), month_text(em)
            hh.at[h, "risk_eliminated"] = "是"
        # A03: incomplete elimination
        for i, h in enumerate(self._take(monitored, "A03")):
            if i % 2 == 0:
                hh.at[h, "risk_eliminated"], hh.at[h, "eliminated_month"] = "是", None
            else:
                hh.at[h, "risk_eliminated"] = "否"
                hh.at[h, "eliminated_month"] = month_text(self._month_before("A03", h))
        # A04: monitoring fields on a household that is not 监测户
        for i, h in enumerate(self._take(~monitored, "A04")):
            if i % 3 == 0:
                hh.at[h, "monitor_type"] = F.MONITOR_TYPES[1]
            elif i % 3 == 1:
                hh.at[h, "risk_eliminated"] = "否"
            else:
                hh.at[h, "risk_eliminated"] = "是"
                hh.at[h, "eliminated_month"] = month_text(self._month_before("A04", h))
        cat, risk, ident = self._cat(), self._risk(), self._ident()
        can_eliminate = (cat == 1) & (risk == "否") & (ident + m <= self.now - 1)
        # A07: eliminated, nobody can work (R06)
        for h in self._take(can_eliminate, "A07"):
            self._eliminate(int(h), "A07")
            set_no_laborer(plan, int(h))
            plan.hit(int(h), {"R06"}, "疑点A07")
        # A08: monitored, nobody can work (R06), no 低保/特困
        for h in self._take((self._cat() == 1) & (self._risk() == "否"), "A08"):
            set_no_laborer(plan, int(h))
            plan.hit(int(h), {"R06"}, "疑点A08")
            self.clear_civil.add(int(h))
        mem = plan.county.mem
        h_of, pos = mem["h"].to_numpy(), mem["pos"].to_numpy()
        end = np.datetime64(self.month.end)
        born = mem["birth"].to_numpy().astype("datetime64[D]")
        years = _age_on(born, self.month.end)
        # A09: a child (10 .. age-1 at the period's end) marked 普通劳动力
        minor = (pos > 0) & (years >= 10) & (years < self.params["minor_age"]) & (born <= end)
        first_minor = _first_per_household(np.flatnonzero(minor), h_of, len(hh))
        for h in self._take(first_minor >= 0, "A09"):
            plan.skill[first_minor[h]] = ORDINARY
        # A10: two heads, or none
        size = hh["size"].to_numpy()
        for i, h in enumerate(self._take(size >= 2, "A10")):
            start = int(plan.county.start[h])
            if i % 2 == 0:
                self.relations[start + 1] = "户主"
            else:
                self.relations[start] = "之子" if bool(mem["male"].iat[start]) else "之女"
        # A11: a member of the head's sex (18 or older) recorded as 配偶
        male = mem["male"].to_numpy()
        head_male = male[plan.county.start][h_of]
        same = (pos > 0) & (male == head_male) & (years >= 18)
        first_same = _first_per_household(np.flatnonzero(same), h_of, len(hh))
        for h in self._take(first_same >= 0, "A11"):
            self.relations[int(first_same[h])] = "配偶"
        # A12: (limit + 1) households with one phone
        group = int(self.params["max_phone"]) + 1
        groups = scaled(PHONE_GROUPS_PER_BASE, len(hh), minimum=1)
        chosen = self._take(np.ones(len(hh), dtype=bool), "A12", groups * group)
        for g in range(len(chosen) // group):
            members = chosen[g * group:(g + 1) * group]
            for h in members:
                hh.at[h, "phone"] = hh.at[members[0], "phone"]

    def after_assembly(self, typed: dict[str, pd.DataFrame], ctx_end: dt.date) -> None:
        """Edits on the assembled frames: relations (A10, A11), 低保/特困 rows dropped (A08) and
        风险类型 for A05 (因病 without medical evidence) and A06 (缺劳动力 with enough laborers)."""
        mem = typed["members"]
        if self.relations:
            pos = np.fromiter(self.relations, dtype=np.int64)
            mem.loc[mem.index[pos], "relation"] = [self.relations[p] for p in pos]
        civ = typed["civil_affairs"]
        typed["civil_affairs"] = civ[~civ["h"].isin(self.clear_civil)].reset_index(drop=True)

        hh = typed["households"]
        n = len(hh)
        end = pd.Timestamp(ctx_end)
        lookback = pd.Timestamp(self.month.shift(-(self.params["lookback"] - 1)).start)
        med = typed["medical"]
        out = pd.to_datetime(med["discharge_date"])
        med = med[(med["h"] >= 0) & (out >= lookback) & (out <= end) & (med["out_of_pocket"] > 0)]
        hea = typed["health"]
        hea = hea[(hea["h"] >= 0) & hea["disease_class"].isin(F.DISEASE_CLASSES)
                  & (pd.to_datetime(hea["diagnosis_date"]) <= end)]
        evidence = np.zeros(n, dtype=bool)
        evidence[med["h"].to_numpy(dtype=np.int64)] = True
        evidence[hea["h"].to_numpy(dtype=np.int64)] = True
        monitored = hh["cat"].to_numpy() == 1
        h_of = mem["h"].to_numpy()
        size = np.bincount(h_of, minlength=n)
        labor = np.bincount(h_of[mem["labor_skill"].isin(LABORER).to_numpy()], minlength=n)
        enough = (size > 0) & (labor > self.params["max_labor_share"] * size + 1e-9)
        for h in self._take(monitored & enough, "A06"):
            hh.at[h, "risk_types"] = "缺劳动力"
        for i, h in enumerate(self._take(monitored & ~evidence, "A05")):
            hh.at[h, "risk_types"] = "因病" if i % 2 == 0 else "因学" + F.RISK_TYPE_SEP + "因病"


def _age_on(born: np.ndarray, day: dt.date) -> np.ndarray:
    """Whole years of age on `day` (the birthday counts from the day itself)."""
    d = born.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    md = (d.astype("datetime64[M]").astype(np.int64) % 12 + 1) * 100 + \
        (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return day.year - y - (md > day.month * 100 + day.day)


def _first_per_household(people: np.ndarray, h_of: np.ndarray, n: int) -> np.ndarray:
    """Per household, the first of `people` in it (-1 when none)."""
    out = np.full(n, -1, dtype=np.int64)
    rev = people[::-1]
    out[h_of[rev]] = rev
    return out


# ---- review results ---------------------------------------------------------------------------

def review_rows(draws: pd.DataFrame | None, month: Month, seed: int, position: pd.Series) -> pd.DataFrame:
    """The county reviewers' results, delivered with `month`, for the households drawn during the
    month (draws: period, household_id, drawn_on): each reviewed on a day from the draw to the
    month's end, 认定准确 mostly, 认定不准确 with a note for about `INACCURATE`. Typed
    review_results rows (+ h)."""
    until = month.end
    if draws is None:
        draws = pd.DataFrame(columns=["period", "household_id", "drawn_on"])
    draws = draws[np.array([month.start <= d <= until for d in draws["drawn_on"]], dtype=bool)]
    rows = []
    for r in draws.itertuples(index=False):
        if r.household_id not in position.index:
            continue
        key = f"{r.period}|{r.household_id}"
        span = max((until - r.drawn_on).days, 0)
        day = r.drawn_on + dt.timedelta(days=int(_u(seed, "review-day", key) * (span + 1)))
        bad = _u(seed, "review", key) < INACCURATE
        note = INACCURATE_NOTES[int(_u(seed, "review-note", key) * len(INACCURATE_NOTES))] if bad else None
        rows.append((int(position[r.household_id]), r.household_id, day, F.REVIEW_CONCLUSIONS[int(bad)], note))
    df = pd.DataFrame(rows, columns=["h", "household_id", "review_date", "conclusion", "note"])
    df["review_date"] = np.array(df["review_date"].tolist(), dtype="datetime64[D]") if len(df) else \
        np.array([], dtype="datetime64[D]")
    return df.sort_values(["review_date", "household_id"], kind="stable").reset_index(drop=True)


def predicted_draw(hh_built: pd.DataFrame, used: np.ndarray, month: Month, seed: int, min_months: int) \
        -> pd.DataFrame:
    """What `fangpin review` draws for `month` from a one-shot delivery of that month (default seed,
    the share in force): the decisions of `month` on the county as built. Columns period,
    household_id, drawn_on."""
    from fangpin import review
    from fangpin.params import param

    hh = hh_built.copy()
    top_up(hh, used, month, seed, min_months, decisions=True)
    new_in, new_out = month_decisions(hh, used, month, seed, min_months)
    apply_decisions(hh, new_in, new_out, month)
    cands = review.decision_candidates(hh, month)
    drawn = review.draw_reviews(cands, month, review.default_seed(month), float(param("review.sample_share",
                                                                                       month.end)))
    return pd.DataFrame({"period": str(month), "household_id": drawn["household_id"].to_numpy(dtype=object),
                         "drawn_on": review.draw_date(month)})
