"""The generator's own check of its planting (independent of fangpin.screen).

`evaluate` applies the contract's rules R01–R12 to the generator's typed frames (keyed by
household position `h` and member position `person`). The generator calls it twice, on every
clean row and on the rows that will pass validation, and refuses to write an answer key when
either result differs from what it planted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fangpin import feeds as F


def _people_of(members: pd.DataFrame, hs: pd.DataFrame):
    """(the members of the households `hs`, a function giving a person-level frame the column
    `h` of its household, keeping only those members' rows)."""
    mem = members[members["h"].isin(hs.index)]
    person_h = pd.Series(mem["h"].to_numpy(), index=mem["person"].to_numpy())

    def of_people(frame: pd.DataFrame) -> pd.DataFrame:
        f = frame[frame["person"].isin(person_h.index)].copy()
        f["h"] = person_h.reindex(f["person"].to_numpy()).to_numpy()
        return f
    return mem, of_people


def evaluate(households: pd.DataFrame, members: pd.DataFrame, feeds: dict[str, pd.DataFrame], ctx) -> dict[int, set]:
    """{household position: set of rule codes} for every household hitting at least one rule."""
    hs = households.drop_duplicates("h").set_index("h")
    hits: dict[int, set] = {}

    def add(index, code):
        for h in index:
            hits.setdefault(int(h), set()).add(code)

    start, end, year_start = (pd.Timestamp(ctx.month.start), pd.Timestamp(ctx.month.end),
                              pd.Timestamp(ctx.month.year_start))
    T = ctx.T
    mem, of_people = _people_of(members, hs)

    inc, last = hs["income"], hs["last_income"]
    add(hs.index[inc < T], "R01")
    add(hs.index[(last > 0) & ((last - inc) / last.where(last > 0, 1) >= ctx.drop_ratio)], "R02")

    size = mem.groupby("h").size().reindex(hs.index, fill_value=0)
    labor = mem[mem["labor_skill"].isin(F.LABORER_SKILLS)].groupby("h").size().reindex(hs.index, fill_value=0)

    dis = of_people(feeds["disability"])
    dis = dis[(dis["issue_date"] >= start) & (dis["issue_date"] <= end)]
    severe = dis["disability_grade"].isin(ctx.severe_grades) | (
        (dis["disability_grade"] == "三级") & dis["disability_type"].isin(ctx.grade3_types))
    add(dis.loc[severe, "h"].unique(), "R03")

    civ = of_people(feeds["civil_affairs"])
    add(civ.loc[(civ["start_date"] >= start) & (civ["start_date"] <= end), "h"].unique(), "R04")

    med = of_people(feeds["medical"])
    med = med[(med["discharge_date"] >= year_start) & (med["discharge_date"] <= end)]
    per_person = med.groupby(["h", "person"])["out_of_pocket"].sum().reset_index()
    registered = hs["cat"].reindex(per_person["h"]).to_numpy() < 2
    thr = np.where(registered, ctx.thr_registered, ctx.thr_general)
    add(per_person.loc[per_person["out_of_pocket"].to_numpy() >= thr, "h"].unique(), "R05")

    judged = size > 0
    add(hs.index[judged & (labor == 0)], "R06")
    add(hs.index[(size >= ctx.large) & (labor == 1)], "R07")

    edu = of_people(feeds["education"])
    students = edu[edu["status"] == "在读"].drop_duplicates("person").groupby("h").size() \
        .reindex(hs.index, fill_value=0)
    add(hs.index[(size >= ctx.large) & (students / size.where(size > 0, 1) >= ctx.student_ratio)], "R08")

    hh_oop = med.groupby("h")["out_of_pocket"].sum().reindex(hs.index, fill_value=0.0)
    after = (inc * size - hh_oop) / size.where(size > 0, 1)
    add(hs.index[judged & (inc >= T) & (after < T)], "R09")

    hou = feeds["housing"]
    hou = hou[hou["h"].isin(hs.index) & (hou["appraisal_date"] <= end)]
    latest = hou.sort_values(["h", "appraisal_date"], kind="stable").groupby("h").tail(1)
    add(latest.loc[latest["grade"].isin(ctx.unsafe_grades), "h"], "R10")

    add(edu.loc[edu["stage"].isin(ctx.compulsory) & (edu["status"] == "辍学"), "h"].unique(), "R11")

    hea = of_people(feeds["health"])
    add(hea.loc[(hea["disease_class"] == "大病") & (hea["diagnosis_date"] >= start)
                & (hea["diagnosis_date"] <= end), "h"].unique(), "R12")
    return hits


def evaluate_audit(households: pd.DataFrame, members: pd.DataFrame, feeds: dict[str, pd.DataFrame], ctx,
                   a: dict) -> dict[int, set]:
    """{household position: set of check codes} for every household the registry audit (data
    contract section 2b, A01–A12) must flag, from the generator's typed frames. `households` carries
    head_male (the sex of 户主身份证号), `members` relation, labor_skill, birth (the ID's birth date)
    and male (the ID's sex); `a` the audit
    parameters (min_months, lookback, max_labor_share, minor_age, max_phone)."""
    hs = households.drop_duplicates("h").set_index("h")
    hits: dict[int, set] = {}

    def add(index, code):
        for h in index:
            hits.setdefault(int(h), set()).add(code)

    end = pd.Timestamp(ctx.month.end)
    mem, of_people = _people_of(members, hs)

    def filled(col):
        v = hs[col]
        return v.notna() & (v.astype(str).str.strip() != "")

    def months(col):
        v = hs[col].where(filled(col), None).astype(object)
        return pd.to_numeric(v.str[:4], errors="coerce") * 12 + pd.to_numeric(v.str[5:7], errors="coerce")

    done = hs["risk_eliminated"] == "是"
    monitored_cat = hs["category"] == F.CAT_MONITORED
    size = mem.groupby("h").size().reindex(hs.index, fill_value=0)
    labor = mem[mem["labor_skill"].isin(F.LABORER_SKILLS)].groupby("h").size().reindex(hs.index, fill_value=0)
    types = hs["risk_types"].where(filled("risk_types"), "").astype(str).str.split(F.RISK_TYPE_SEP) \
        if "risk_types" in hs else pd.Series([[]] * len(hs), index=hs.index)

    add(hs.index[done & (hs["income"] < ctx.T)], "A01")
    gap = months("eliminated_month") - months("identified_month")
    add(hs.index[done & gap.notna() & (gap < a["min_months"])], "A02")
    add(hs.index[(done & ~filled("eliminated_month")) | (~done & filled("eliminated_month"))], "A03")
    add(hs.index[~monitored_cat & (filled("monitor_type") | filled("risk_eliminated") | filled("eliminated_month"))],
        "A04")

    lookback = pd.Timestamp(ctx.month.shift(-(a["lookback"] - 1)).start)
    med = of_people(feeds["medical"])
    dis = pd.to_datetime(med["discharge_date"])
    med = med[(dis >= lookback) & (dis <= end) & (med["out_of_pocket"] > 0)]
    hea = of_people(feeds["health"])
    hea = hea[hea["disease_class"].isin(F.DISEASE_CLASSES) & (pd.to_datetime(hea["diagnosis_date"]) <= end)]
    evidence = set(med["h"]) | set(hea["h"])
    sick = types.map(lambda xs: "因病" in {x.strip() for x in xs}).astype(bool)
    add(hs.index[sick & ~hs.index.isin(list(evidence))], "A05")
    short = types.map(lambda xs: "缺劳动力" in {x.strip() for x in xs}).astype(bool)
    add(hs.index[short & (size > 0) & (labor > a["max_labor_share"] * size + 1e-9)], "A06")

    add(hs.index[done & (size > 0) & (labor == 0)], "A07")
    civ = of_people(feeds["civil_affairs"])
    civ = civ[civ["assistance_type"].isin(("低保", "特困")) & (pd.to_datetime(civ["start_date"]) <= end)]
    add(hs.index[monitored_cat & ~done & (size > 0) & (labor == 0) & ~hs.index.isin(list(set(civ["h"])))], "A08")

    born = pd.to_datetime(mem["birth"])
    years = end.year - born.dt.year - ((born.dt.month * 100 + born.dt.day) > end.month * 100 + end.day)
    add(mem.loc[mem["labor_skill"].isin(F.LABORER_SKILLS[:2]) & (years < a["minor_age"]), "h"].unique(), "A09")
    heads = mem[mem["relation"] == "户主"].groupby("h").size().reindex(hs.index, fill_value=0)
    add(hs.index[(size > 0) & (heads != 1)], "A10")
    spouses = mem[mem["relation"] == "配偶"]
    same = spouses["male"].to_numpy(dtype=bool) == hs["head_male"].reindex(spouses["h"]).to_numpy(dtype=bool)
    add(spouses.loc[same, "h"].unique(), "A11")
    phone = hs["phone"].where(filled("phone"), None).dropna()
    counts = phone.map(phone.value_counts())
    add(counts.index[counts > a["max_phone"]], "A12")
    return hits
