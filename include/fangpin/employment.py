"""Figures of the 人社 feed (`employment`) per township, for the 十三清 indicators (务工人数,
公益性岗位) and the reports.

A person counts in month M when the period's delivery has a row of 统计月份 M for them and their
身份证号 is an accepted member of an accepted household (department rows of people outside the
registry are not the county's rural population). A person with several rows in the month counts
once, by their first status in the order 务工, 灵活就业, 公益性岗位, 失业.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from fangpin import feeds as F
from fangpin.periods import Month

COLUMNS = ["township_code", "working", "migrant", "public_welfare", "unemployed"]
# working: 务工 or 灵活就业; migrant: working outside the county (县外省内, 省外);
# public_welfare: 公益性岗位; unemployed: 失业
STATUS_ORDER = ("务工", "灵活就业", "公益性岗位", F.UNEMPLOYED)  # a person's status when several rows


def township_counts(frames: dict[str, pd.DataFrame], period: Month | str) -> pd.DataFrame:
    """Pure: persons per township and status of 统计月份 = the period (COLUMNS; townships with no
    row are absent)."""
    p = str(Month.parse(str(period)))
    hh = frames["households"].drop_duplicates("household_id", keep="last")
    town = hh.set_index("household_id")["village_code"].astype(str).str[:9]
    mem = frames["members"]
    mem = mem[mem["household_id"].isin(town.index)].drop_duplicates("id_number", keep="last")
    person_town = mem.set_index("id_number")["household_id"].map(town)
    e = frames["employment"]
    e = e[(e["stat_month"] == p) & e["id_number"].isin(person_town.index)]
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    e = e.assign(_r=e["employment_status"].map(rank)).sort_values(["id_number", "_r"]).drop_duplicates("id_number")
    e = e.assign(township_code=e["id_number"].map(person_town))
    working = e["employment_status"].isin(("务工", "灵活就业"))
    out = pd.DataFrame({
        "township_code": e["township_code"],
        "working": working,
        "migrant": working & e["work_place"].isin(F.WORK_PLACES[1:]),
        "public_welfare": e["employment_status"] == "公益性岗位",
        "unemployed": e["employment_status"] == F.UNEMPLOYED,
    }).groupby("township_code", as_index=False).sum()
    return out[COLUMNS].astype({c: "int64" for c in COLUMNS[1:]})


def township_counts_db(eng: Engine, period: Month | str) -> pd.DataFrame:
    """township_counts() on the period's loaded rows."""
    from fangpin.store.db import read_feed

    p = str(Month.parse(str(period)))
    return township_counts({n: read_feed(eng, n, p, columns=list(cols)) for n, cols in READS.items()}, p)


# The columns township_counts reads (only these are fetched: the members feed is the county's
# whole population, and building every column of it cost a report seconds and ~1 GB).
READS = {"households": ("household_id", "village_code"), "members": ("household_id", "id_number"),
         "employment": ("stat_month", "id_number", "employment_status", "work_place")}
