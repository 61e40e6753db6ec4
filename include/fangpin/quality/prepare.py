"""From the reader's text frames to the frames the suites check, and to typed frames.

A *check frame* has one row per delivered row (positional index 0..n-1, same order as the raw
frame) and:
- every feed column under its internal name, stripped text, None when empty (ID numbers
  upper-cased: a lower-case x is accepted and normalised);
- derived columns the suites compare: `<money/count>__number` (float, NaN when not a plain
  number), `<date>__date` and `<month>__month` (datetime64, NaT when not a date), for regions
  `code__digits` (length of a well-formed 9/12-digit code), for households `member_count` (delivered member
  rows with that 户编号; NaN when members were not delivered).
A *typed frame* is the project's typed convention (see PREAMBLE / db.read_feed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin.quality import checks as C


def check_frame(raw: pd.DataFrame, feed: F.Feed, members: pd.DataFrame | None = None) -> pd.DataFrame:
    """The check frame of a raw feed frame; `members` is the members' check frame (for households)."""
    out = {}
    for c in feed.columns:
        if c.name not in raw:  # an optional column the file does not have
            col = pd.Series([None] * len(raw), dtype=object)
        else:
            col = C.text(raw[c.name]).reset_index(drop=True)
        if c.kind == F.ID_NUMBER:
            col = col.str.upper().astype(object).where(col.notna(), None)
        out[c.name] = col
        if c.kind in (F.MONEY, F.COUNT):
            out[f"{c.name}__number"] = C.to_number(col)
        elif c.kind == F.DATE:
            out[f"{c.name}__date"] = C.parse_dates(col)
        elif c.kind == F.MONTH:
            out[f"{c.name}__month"] = C.parse_months(col)
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(raw)))
    if feed.name == "regions":
        code = frame["code"]
        # only for a well-formed code: a malformed one is reported as such, not as a level mismatch
        ok = code.notna() & code.str.fullmatch(r"[0-9]{9}|[0-9]{12}").fillna(False).astype(bool)
        digits = code.str.len().where(ok)
        frame["code__digits"] = digits.astype("float64")
    if feed.name == "households":
        if members is None:
            frame["member_count"] = np.nan
        else:
            counts = members["household_id"].value_counts()
            frame["member_count"] = frame["household_id"].map(counts).fillna(0).astype("float64")
            frame.loc[frame["household_id"].isna(), "member_count"] = np.nan
    return frame


def typed_frame(check: pd.DataFrame, feed: F.Feed, source_row: pd.Series) -> pd.DataFrame:
    """Typed rows (internal names, DATE datetime64, MONEY float64, COUNT Int64, + source_row)."""
    out = {"source_row": pd.Series(np.asarray(source_row), index=check.index, dtype="int64")}
    for c in feed.columns:
        if c.kind == F.MONEY:
            out[c.name] = check[f"{c.name}__number"].astype("float64")
        elif c.kind == F.COUNT:
            out[c.name] = check[f"{c.name}__number"].round().astype("Int64")
        elif c.kind == F.DATE:
            out[c.name] = check[f"{c.name}__date"]
        elif c.kind == F.MONTH:
            m = check[f"{c.name}__month"]
            out[c.name] = m.dt.strftime("%Y-%m").astype(object).where(m.notna(), None)
        else:
            out[c.name] = check[c.name].astype(object)
    frame = pd.DataFrame(out, index=check.index)
    if feed.name == "regions":
        frame["township_code"] = frame["code"].str[:9]
    elif feed.name == "households":
        frame["township_code"] = frame["village_code"].str[:9]
    return frame.reset_index(drop=True)


def empty_typed(feed: F.Feed) -> pd.DataFrame:
    """A typed frame with no rows (a feed not delivered or rejected)."""
    empty = pd.DataFrame({c.name: pd.Series(dtype=object) for c in feed.columns})
    return typed_frame(check_frame(empty, feed), feed, pd.Series(dtype="int64"))
