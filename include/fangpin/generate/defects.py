"""Planted defects (data contract section 1, "Validity") and the quarantine answer key.

Defects sit only on background records (never on a planted or near-miss household), and are
chosen so that quarantining them changes no expected rule hit. Conventions the answer key
follows (the validator must agree; see docs/generate.md):

- cross-row checks look at the *delivered* rows of the other file: a member's 户编号 must appear
  in households.csv (whether or not that household row is itself quarantined); a household's
  村代码 must appear in regions; 家庭人口数 is compared with the number of rows in members that
  carry the household's 户编号 (all of them, quarantined or not);
- a duplicated key quarantines every row that carries it (reason 重复 on each);
- one answer-key line per (row, reason); a defective row carries exactly one reason.

Phase 1 (`choose`) picks targets on the typed frames and strips department rows that would
make a quarantined member ambiguous; phase 2 (`apply`) edits the delivered text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin import reasons as R
from fangpin.generate.county import LABORER, County, id_strings

PERSON_FEEDS = ("medical", "disability", "civil_affairs", "education", "health")
HH_KINDS = ("checkdigit", "birth", "dup", "village", "negative", "nonnumeric", "enum", "size", "empty", "month")
MEMBER_KINDS = ("checkdigit", "future", "length", "dup", "enum", "empty")


# Defects of the township feedback feeds: (feed, kind) -> (column, new value from (value, month),
# reason). Used for the monthly delivery here and for the weekly drop (fangpin.generate.living).
FEEDBACK_DEFECTS = {
    ("inspections", "baddate"): ("inspect_date", lambda v, month: f"{month.year}/{month.month}/32", R.BAD_DATE),
    ("inspections", "enum"): ("result", lambda v, month: "有风险", R.BAD_ENUM),
    ("inspections", "empty"): ("household_id", lambda v, month: "", R.MISSING),
    ("verifications", "enum"): ("conclusion", lambda v, month: "待核实", R.BAD_ENUM),
    ("spot_check_results", "enum"): ("answered", lambda v, month: "已接通", R.BAD_ENUM),
    ("rectifications", "baddate"): ("rectify_date", lambda v, month: f"{month.year}-13-05", R.BAD_DATE),
}


def _wrong_check(id_number: str) -> str:
    right = id_number[17]
    return id_number[:17] + ("1" if right != "1" else "2")


@dataclass
class Defects:
    county: County
    rng: np.random.Generator
    month: object
    protected: np.ndarray          # households that must stay clean (planted, near-miss)
    count: int
    registered: np.ndarray | None = None  # households kept free of registry defects only (phoned)
    hh: dict = field(default_factory=dict)        # kind -> [h]
    members: dict = field(default_factory=dict)   # kind -> [person] (dup: [(p1, p2)])
    rows: dict = field(default_factory=dict)      # (feed, kind) -> [typed row index]
    extras: dict = field(default_factory=dict)    # feed -> list of (kind, dict of text values)
    lines: list = field(default_factory=list)     # (feed, label, column zh, problem)

    # ---- phase 1 ------------------------------------------------------------------------------
    def _take(self, cands: np.ndarray, k: int | None = None) -> np.ndarray:
        k = self.count if k is None else k
        k = min(k, len(cands))
        return self.rng.choice(cands, k, replace=False) if k else np.array([], dtype=np.int64)

    def choose_registry(self, typed: dict[str, pd.DataFrame]) -> None:
        hh, mem = self.county.hh, typed["members"]
        n_h = len(hh)
        keep = self.protected if self.registered is None else self.protected | self.registered
        free = ~keep
        cat = hh["cat"].to_numpy()
        for kind in HH_KINDS:
            cond = free.copy()
            if kind == "enum":
                cond &= cat == 2
            if kind == "month":
                cond &= cat == 1
            pick = self._take(np.flatnonzero(cond))
            free[pick] = False
            self.hh[kind] = [int(h) for h in pick]
        # member defects: households of 2-4 people; the defective member (not the head) is not
        # the only laborer, and the household's medical costs are cleared (R09 after a size change)
        size = hh["size"].to_numpy()
        h_of = mem["h"].to_numpy()
        lab = mem["labor_skill"].isin(LABORER).to_numpy()
        labs = np.bincount(h_of[lab], minlength=n_h)
        start = self.county.start
        p1 = start + 1
        ok1 = free & (size >= 2) & (size <= 4)
        ok1 &= ~(lab[np.minimum(p1, len(mem) - 1)] & (labs == 1))
        hit_households = []
        for kind in MEMBER_KINDS:
            if kind == "dup":
                p2 = start + 2
                ok = free & (size >= 3) & (size <= 4)
                safe = labs - lab[np.minimum(p1, len(mem) - 1)] - lab[np.minimum(p2, len(mem) - 1)]
                pick = self._take(np.flatnonzero(ok & (safe >= 1)))
                self.members[kind] = [(int(start[h] + 1), int(start[h] + 2)) for h in pick]
            else:
                pick = self._take(np.flatnonzero(ok1 & free))
                self.members[kind] = [int(start[h] + 1) for h in pick]
            free[pick] = False
            hit_households.extend(int(h) for h in pick)
        self.member_households = np.array(sorted(hit_households), dtype=np.int64)
        self.free = free
        bad_people = set(p for k, v in self.members.items() for p in (v if k != "dup" else [q for pq in v for q in pq]))
        year_start = np.datetime64(self.month.year_start)
        for feed in PERSON_FEEDS:
            t = typed[feed]
            drop = t["person"].isin(bad_people)
            if feed == "medical":
                drop |= t["h"].isin(self.member_households) & (t["discharge_date"] >= year_start)
            typed[feed] = t[~drop].reset_index(drop=True)

    def choose_departments(self, typed: dict[str, pd.DataFrame]) -> None:
        clean = self.free  # background households without registry defects
        if self.registered is not None:  # … and the phoned ones, whose department rows may be bad
            clean = clean | (self.registered & ~self.protected)

        def rows(feed, cond=None, k=None):
            t = typed[feed]
            ok = (t["h"] >= 0).to_numpy() & clean[np.maximum(t["h"].to_numpy(), 0)]
            if "person" in t:
                ok &= (t["person"] >= 0).to_numpy()
            if cond is not None:
                ok &= cond
            return [int(i) for i in self._take(np.flatnonzero(ok), k)]

        med = typed["medical"]
        positive = (med["out_of_pocket"] >= 1).to_numpy()
        chosen = rows("medical", positive, 4 * self.count)
        q = self.count
        self.rows[("medical", "negative")] = chosen[:q]
        self.rows[("medical", "nonnumeric")] = chosen[q:2 * q]
        self.rows[("medical", "baddate")] = chosen[2 * q:3 * q]
        self.rows[("medical", "checkdigit")] = chosen[3 * q:]
        d = rows("disability", None, 2 * q)
        self.rows[("disability", "enum")], self.rows[("disability", "empty")] = d[:q], d[q:]
        c = rows("civil_affairs", None, 2 * q)
        self.rows[("civil_affairs", "enum")], self.rows[("civil_affairs", "baddate")] = c[:q], c[q:]
        e = rows("education", (typed["education"]["status"] == "在读").to_numpy(), 2 * q)
        self.rows[("education", "enum")], self.rows[("education", "dup")] = e[:q], e[q:]
        hou = typed["housing"]
        all_ab = hou.groupby("h")["grade"].transform(lambda g: g.isin(["A", "B"]).all()).to_numpy(dtype=bool)
        single = hou.groupby("h")["h"].transform("size").to_numpy() == 1
        self.rows[("housing", "enum")] = rows("housing", all_ab & single)
        self.rows[("health", "enum")] = rows("health")
        i = rows("inspections", None, 3 * q)
        self.rows[("inspections", "baddate")] = i[:q]
        self.rows[("inspections", "enum")] = i[q:2 * q]
        self.rows[("inspections", "empty")] = i[2 * q:]
        small = max(1, min(q, len(typed["verifications"]) // 10))
        v = rows("verifications", None, 2 * small)
        self.rows[("verifications", "enum")], self.rows[("verifications", "orphan")] = v[:small], v[small:]
        s = max(1, min(q, len(typed["spot_check_results"]) // 20))
        self.rows[("spot_check_results", "enum")] = rows("spot_check_results", None, s)

    def removed(self) -> dict[str, set]:
        """Typed rows that will be quarantined: feed -> row indices (households/members: h / person)."""
        out = {f: set() for f in F.FEEDS}
        for v in self.hh.values():
            out["households"].update(v)
        for k, v in self.members.items():
            out["members"].update([q for pq in v for q in pq] if k == "dup" else v)
        for (feed, kind), v in self.rows.items():
            out[feed].update(v)
        return out

    # ---- phase 2 ------------------------------------------------------------------------------
    def _line(self, feed, label, col, problem):
        self.lines.append((feed, label, F.feed(feed).zh_of(col), problem))

    def apply(self, texts: dict[str, pd.DataFrame], fresh_ids) -> None:
        """Edits the delivered text in place and appends extra rows (labels continue the index)."""
        end = self.month.end
        y = self.month.year
        t = texts["households"]
        hid_set = set(t["household_id"])
        nowhere = next(f"{t['household_id'].iat[0][:12]}{'0' * k}" for k in range(4, 12)
                       if f"{t['household_id'].iat[0][:12]}{'0' * k}" not in hid_set)
        villages = set(texts["regions"]["code"])
        for kind, hs in self.hh.items():
            for h in hs:
                if kind == "checkdigit":
                    t.at[h, "head_id_number"] = _wrong_check(t.at[h, "head_id_number"])
                    self._line("households", h, "head_id_number", "校验位错误")
                elif kind == "birth":
                    v = t.at[h, "head_id_number"]
                    body = int(v[:6] + v[6:10] + "0230" + v[14:17])
                    t.at[h, "head_id_number"] = id_strings(np.array([body]))[0]
                    self._line("households", h, "head_id_number", "出生日期无效")
                elif kind == "dup":
                    self._extra("households", dict(t.loc[h]), copy_of=h)
                elif kind == "village":
                    v = t.at[h, "village_code"]
                    fake = next(f"{v[:9]}{k:03d}" for k in range(999, 0, -1) if f"{v[:9]}{k:03d}" not in villages)
                    t.at[h, "village_code"] = fake
                    self._line("households", h, "village_code", R.UNKNOWN_VILLAGE)
                elif kind == "negative":
                    t.at[h, "income"] = "-" + t.at[h, "income"]
                    self._line("households", h, "income", R.NEGATIVE)
                elif kind == "nonnumeric":
                    t.at[h, "last_income"] = "暂无"
                    self._line("households", h, "last_income", R.NOT_A_NUMBER)
                elif kind == "enum":
                    t.at[h, "category"] = "贫困户"
                    self._line("households", h, "category", R.BAD_ENUM)
                elif kind == "size":
                    t.at[h, "declared_size"] = str(int(t.at[h, "declared_size"]) + 1)
                    self._line("households", h, "declared_size", R.SIZE_MISMATCH)
                elif kind == "empty":
                    t.at[h, "head_name"] = ""
                    self._line("households", h, "head_name", R.MISSING)
                elif kind == "month":
                    m = t.at[h, "identified_month"].replace("-", "")
                    t.at[h, "identified_month"] = f"{m[:4]}年{int(m[4:6])}月"
                    self._line("households", h, "identified_month", R.BAD_MONTH)

        m = texts["members"]
        for kind, ps in self.members.items():
            for p in ps:
                if kind == "checkdigit":
                    m.at[p, "id_number"] = _wrong_check(m.at[p, "id_number"])
                    self._line("members", p, "id_number", "校验位错误")
                elif kind == "future":
                    v = m.at[p, "id_number"]
                    body = int(v[:6] + f"{y + 2}" + v[10:17])
                    m.at[p, "id_number"] = id_strings(np.array([body]))[0]
                    self._line("members", p, "id_number", "出生日期无效")
                elif kind == "length":
                    m.at[p, "id_number"] = m.at[p, "id_number"][:17]
                    self._line("members", p, "id_number", "长度不是18位")
                elif kind == "dup":
                    a, b = p
                    m.at[b, "id_number"] = m.at[a, "id_number"]
                    self._line("members", a, "id_number", R.DUPLICATE)
                    self._line("members", b, "id_number", R.DUPLICATE)
                elif kind == "enum":
                    m.at[p, "labor_skill"] = "半劳动力"
                    self._line("members", p, "labor_skill", R.BAD_ENUM)
                elif kind == "empty":
                    m.at[p, "name"] = ""
                    self._line("members", p, "name", R.MISSING)
        # a member listed under a household that is not in households.csv
        for oid in fresh_ids[: self.count]:
            row = {"id_number": oid, "household_id": nowhere, "name": m.at[0, "name"][:1] + "新华",
                   "relation": "户主", "labor_skill": F.LABOR_SKILLS[1]}
            self._extra("members", row, lines=[("household_id", R.UNKNOWN_HOUSEHOLD)])

        def mutate(feed, kind, col, value_of, problem):
            tf = texts[feed]
            for i in self.rows.get((feed, kind), []):
                tf.at[i, col] = value_of(tf.at[i, col])
                self._line(feed, i, col, problem)

        after = f"{end + pd.Timedelta(days=3):%Y-%m-%d}"
        mutate("medical", "negative", "out_of_pocket", lambda v: "-" + v, R.NEGATIVE)
        mutate("medical", "nonnumeric", "total_cost", lambda v: "待结算", R.NOT_A_NUMBER)
        mutate("medical", "baddate", "discharge_date", lambda v: f"{y}-13-05", R.BAD_DATE)
        mutate("medical", "checkdigit", "id_number", _wrong_check, "校验位错误")
        med = texts["medical"]
        for i in self.rows.get(("medical", "negative"), [])[: max(1, self.count // 2)]:
            row = dict(med.loc[i])
            row.update(admission_date=f"{end:%Y-%m-%d}", discharge_date=after,
                       out_of_pocket=row["out_of_pocket"].lstrip("-"))
            self._extra("medical", row, lines=[("discharge_date", R.AFTER_PERIOD)])
        mutate("disability", "enum", "disability_grade", lambda v: "五级", R.BAD_ENUM)
        mutate("disability", "empty", "issue_date", lambda v: "", R.MISSING)
        mutate("civil_affairs", "enum", "assistance_type", lambda v: "临时救助", R.BAD_ENUM)
        mutate("civil_affairs", "baddate", "start_date", lambda v: f"{y - 1}-02-30", R.BAD_DATE)
        mutate("education", "enum", "status", lambda v: "在校", R.BAD_ENUM)
        edu = texts["education"]
        for i in self.rows.get(("education", "dup"), []):
            self._extra("education", dict(edu.loc[i]), copy_of=i, column="id_number")
        mutate("housing", "enum", "grade", lambda v: "E", R.BAD_ENUM)
        hou = texts["housing"]
        for k in range(self.count):
            base = dict(hou.loc[k % len(hou)]) if len(hou) else {"grade": "A"}
            self._extra("housing", {**base, "household_id": nowhere, "grade": "A", "appraisal_date": f"{end:%Y-%m-%d}"},
                        lines=[("household_id", R.UNKNOWN_HOUSEHOLD)])
            some = t["household_id"].iat[int(np.flatnonzero(self.free)[k % max(1, self.free.sum())])]
            self._extra("housing", {"household_id": some, "grade": "A", "appraisal_date": after},
                        lines=[("appraisal_date", R.AFTER_PERIOD)])
        mutate("health", "enum", "disease_class", lambda v: "重病", R.BAD_ENUM)
        hea = texts["health"]
        for i in self.rows.get(("health", "enum"), []):
            row = dict(hea.loc[i])
            row.update(disease_class="大病", diagnosis_date=after)
            self._extra("health", row, lines=[("diagnosis_date", R.AFTER_PERIOD)])
        for (feed, kind), (col, value_of, reason) in FEEDBACK_DEFECTS.items():
            mutate(feed, kind, col, lambda v, f=value_of: f(v, self.month), reason)
        mutate("verifications", "orphan", "household_id", lambda v: nowhere, R.UNKNOWN_HOUSEHOLD)

    def _extra(self, feed, row, copy_of=None, column="household_id", lines=()):
        self.extras.setdefault(feed, []).append((row, copy_of, column, list(lines)))

    def finish(self, texts: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Inserts the extra rows at random places; returns final frames and fixes the line labels."""
        out = {}
        row_of: dict[tuple[str, int], int] = {}
        for feed, frame in texts.items():
            extras = self.extras.get(feed, [])
            n = len(frame)
            key = np.arange(n) * 2.0
            rows = [frame]
            if extras:
                ex = pd.DataFrame([r for r, *_ in extras], columns=frame.columns)
                ex.index = np.arange(n, n + len(ex))
                rows.append(ex)
                key = np.concatenate([key, self.rng.integers(0, n + 1, len(ex)) * 2.0 - 1])
            full = pd.concat(rows)
            order = np.argsort(key, kind="stable")
            full = full.iloc[order]
            for position, label in enumerate(full.index):
                row_of[(feed, int(label))] = position + 2
            for j, (row, copy_of, column, lines) in enumerate(extras):
                label = n + j
                if copy_of is not None:
                    self._line(feed, copy_of, column, R.DUPLICATE)
                    self._line(feed, label, column, R.DUPLICATE)
                for col, problem in lines:
                    self._line(feed, label, col, problem)
            out[feed] = full.reset_index(drop=True)
        self.lines = [(feed, row_of[(feed, int(label))], col, problem) for feed, label, col, problem in self.lines]
        return out
