"""Builds typed screening frames from the compact household descriptions of tests/rules/*.yaml.

A case describes one or more households (key `household`, or a list under `households`):

    household:
      id: H1                   # default H1, H2, ...
      category: 脱贫户          # default 一般农户
      income: 6999.99          # default 20000
      last_income: 7000        # default = income
      risk_eliminated: 否       # optional (监测户)
      members:                 # default: 3 x 普通劳动力; a string is a 劳动技能, a dict may add age
        - 普通劳动力
        - {skill: 丧失劳动力, age: 80}
      medical:    [{member: 0, discharge: 2026-10-31, oop: 5000}]      # admission defaults to discharge
      disability: [{member: 0, type: 智力, grade: 三级, issued: 2026-10-01}]
      civil_affairs: [{member: 0, type: 低保, start: 2026-10-01}]
      education:  [{member: 1, stage: 初中, status: 在读}]
      housing:    [{grade: C, date: 2026-03-01}]
      health:     [{member: 0, class: 大病, date: 2026-10-12}]
      unmatched_medical: [{discharge: ..., oop: ...}]   # a settlement of a person outside the registry
      employment: [{member: 0, status: 务工, wage: 3000, month: 2026-10, place: 县外省内}]   # 人社
      phone: "13800000001"     # registry audit (A01–A12) fields: phone, monitor_type, identified_month,
      risk_types: 因病、因残    # eliminated_month, risk_types (风险类型), elimination_method (风险消除方式)

A member dict may also give `born: 2010-11-01` (instead of age), `sex: 男|女` (17th ID digit),
`relation: 配偶` (default 户主 for the first member, 其他 for the others) and `name`.

Member IDs are valid GB 11643 numbers made with fangpin.ids.make_id; every household sits in
village 451302101001 (township 451302101) unless `village` is given.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fangpin import feeds as F
from fangpin.ids import make_id

DEFAULT_VILLAGE = "451302101001"


def _date(v) -> pd.Timestamp:
    return pd.Timestamp(v if isinstance(v, (dt.date, dt.datetime)) else str(v))


def _typed(feed: str, rows: list[dict]) -> pd.DataFrame:
    f = F.feed(feed)
    cols = f.names + (["township_code"] if feed in ("households", "regions") else [])
    df = pd.DataFrame(rows, columns=cols)
    for c in f.columns:
        if c.kind == F.DATE:
            df[c.name] = pd.to_datetime(df[c.name])
        elif c.kind == F.MONEY:
            df[c.name] = df[c.name].astype("float64")
        elif c.kind == F.COUNT:
            df[c.name] = df[c.name].astype("Int64")
    df["source_row"] = range(2, len(df) + 2)
    return df


def build_frames(case: dict) -> dict[str, pd.DataFrame]:
    households = case.get("households") or [case.get("household") or {}]
    rows = {name: [] for name in ("households", "members", "medical", "disability", "civil_affairs", "education",
                                  "housing", "health", "employment")}
    seq = 0
    for i, h in enumerate(households, start=1):
        hid = str(h.get("id", f"H{i}"))
        village = str(h.get("village", DEFAULT_VILLAGE))
        members = h.get("members")
        if members is None:
            members = ["普通劳动力"] * 3
        ids = []
        for j, m in enumerate(members):
            m = {"skill": m} if isinstance(m, str) else dict(m)
            age = int(m.get("age", 40))
            seq += 1
            if "sex" in m and (seq % 2 == 1) != (m["sex"] == "男"):
                seq += 1  # the 17th digit (seq's last) is odd for a man, even for a woman
            born = _date(m["born"]).date() if "born" in m else dt.date(2026 - age, 1 + seq % 12, 1 + seq % 28)
            pid = make_id("451302", born, seq)
            ids.append(pid)
            rows["members"].append({"id_number": pid, "household_id": hid, "name": m.get("name", f"成员{i}-{j}"),
                                    "relation": m.get("relation", "户主" if j == 0 else "其他"),
                                    "labor_skill": m["skill"]})
        income = float(h.get("income", 20000))
        rows["households"].append({
            "household_id": hid, "village_code": village, "township_code": village[:9], "head_name": f"户主{i}",
            "head_id_number": ids[0] if ids else make_id("451302", dt.date(1970, 1, 1), 999),
            "phone": None if h.get("phone") is None else str(h["phone"]), "declared_size": len(members), "category": h.get("category", F.CAT_GENERAL),
            "monitor_type": h.get("monitor_type"), "identified_month": h.get("identified_month"),
            "risk_eliminated": h.get("risk_eliminated"), "eliminated_month": h.get("eliminated_month"),
            "income": income, "last_income": float(h.get("last_income", income)), "measures": h.get("measures", 1),
            "risk_types": h.get("risk_types"), "elimination_method": h.get("elimination_method")})
        for r in h.get("medical", []):
            rows["medical"].append({"id_number": ids[r.get("member", 0)],
                                    "admission_date": _date(r.get("admission", r["discharge"])),
                                    "discharge_date": _date(r["discharge"]), "total_cost": float(r["oop"]) * 2,
                                    "out_of_pocket": float(r["oop"])})
        for r in h.get("unmatched_medical", []):
            seq += 1
            rows["medical"].append({"id_number": make_id("450100", dt.date(1960, 5, 5), seq),
                                    "admission_date": _date(r["discharge"]), "discharge_date": _date(r["discharge"]),
                                    "total_cost": float(r["oop"]), "out_of_pocket": float(r["oop"])})
        for r in h.get("disability", []):
            rows["disability"].append({"id_number": ids[r.get("member", 0)], "disability_type": r["type"],
                                       "disability_grade": r["grade"], "issue_date": _date(r["issued"])})
        for r in h.get("civil_affairs", []):
            rows["civil_affairs"].append({"id_number": ids[r.get("member", 0)], "assistance_type": r["type"],
                                          "start_date": _date(r["start"])})
        for r in h.get("education", []):
            rows["education"].append({"id_number": ids[r.get("member", 0)], "stage": r["stage"],
                                      "status": r["status"]})
        for r in h.get("housing", []):
            rows["housing"].append({"household_id": hid, "grade": r["grade"], "appraisal_date": _date(r["date"])})
        for r in h.get("employment", []):
            rows["employment"].append({"id_number": ids[r.get("member", 0)], "employment_status": r.get("status", "务工"),
                                       "work_place": r.get("place", "县内"), "monthly_wage": float(r.get("wage", 0)),
                                       "stat_month": str(r["month"])})
        for r in h.get("health", []):
            rows["health"].append({"id_number": ids[r.get("member", 0)], "disease": r.get("disease", "某病"),
                                   "disease_class": r["class"], "diagnosis_date": _date(r["date"])})
    return {name: _typed(name, r) for name, r in rows.items()}


def regions_for(households: pd.DataFrame) -> pd.DataFrame:
    towns = sorted(households["township_code"].unique())
    villages = sorted(households["village_code"].unique())
    df = pd.DataFrame({"code": towns + villages,
                       "name": [f"{t[-3:]}镇" for t in towns] + [f"{v[-3:]}村" for v in villages],
                       "level": ["乡镇"] * len(towns) + ["村"] * len(villages)})
    df["township_code"] = df["code"].str[:9]
    df["source_row"] = range(2, len(df) + 2)
    return df


def load_period(eng, period: str, frames: dict[str, pd.DataFrame], **feedback: pd.DataFrame) -> None:
    """Stores typed frames as a period's accepted rows (what fangpin.load does after validation);
    feeds not given are stored empty for the period. `feedback` adds e.g. verifications=frame."""
    from fangpin.store import db

    frames = {**frames, **feedback}
    with eng.begin() as conn:
        db.replace_period(conn, "regions", period, regions_for(frames["households"]))
        for name in F.FEEDS:
            if name != "regions":
                db.replace_period(conn, name, period, frames.get(name, pd.DataFrame()))


def feedback(feed: str, rows: list[dict]) -> pd.DataFrame:
    """A typed feedback feed (verifications, rectifications, …) from plain dicts."""
    return _typed(feed, [{k: (_date(v) if F.feed(feed).column(k).kind == F.DATE else v) for k, v in r.items()}
                         for r in rows])


def write_delivery(folder, case: dict, optional: bool = True, edit=None):
    """Writes the case's frames as a delivery (the generator's writers); `optional=False` drops
    the households columns 风险类型 and 风险消除方式; `edit(feed, text)` may change a feed's cells
    (internal column names) and returns the text frame to write."""
    import numpy as np

    from fangpin.generate import write

    frames = build_frames(case)
    frames["regions"] = regions_for(frames["households"])
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for name, typed in frames.items():
        if typed.empty and name != "households":
            continue
        text = write.text_frame(name, typed.assign(declared_size=typed["declared_size"].astype("int64"))
                                if name == "households" else typed, rng)
        if edit:
            text = edit(name, text)
        if name == "households" and not optional:
            text = text.drop(columns=["risk_types", "elimination_method"])
        zh = {c.name: c.zh for c in F.feed(name).columns}
        text.rename(columns=zh).to_csv(folder / f"{name}.csv", index=False, encoding="utf-8-sig")
    return folder
