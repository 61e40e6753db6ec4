"""Failures of a suite's expectations -> per-row quarantine reasons; and the suites in plain pandas.

`Failure` is what both engines produce: one expectation (its JSON dict) and the positions of
the rows it rejected. `reasons()` turns a feed's failures into one reason text per rejected row:
`<header>：<problem>` for the first failing expectation of each header (suite order), several
headers joined by `；` (fangpin.reasons).

`evaluate_suite()` is the plain vectorised pandas implementation of the same suites (same JSON,
same null semantics as GX: map expectations skip empty cells, pair expectations skip rows where
either value is missing). The benchmark compares it with GX; tests check both agree.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fangpin import reasons as R
from fangpin.quality import checks as C
from fangpin.quality.suites import DATE_EXPECTATION, ID_EXPECTATION, REFERENCE_EXPECTATION

# Delivered check frames other feeds refer to (households for members, regions for
# households); set by the validator around a run, read by the reference expectation.
REFERENCE_FRAMES: contextvars.ContextVar[dict] = contextvars.ContextVar("fangpin_reference_frames", default={})


@dataclass
class Failure:
    expectation: dict                   # type, kwargs, meta (as in the suite JSON)
    rows: np.ndarray                    # positions (check-frame index) of the rejected rows
    element_count: int = 0
    values: list = field(default_factory=list)  # a few failing values (to be masked before storing)

    @property
    def header(self) -> str:
        return self.expectation["meta"]["header"]


def reference_values(feed: str, column: str, where: dict | None = None) -> set:
    frames = REFERENCE_FRAMES.get()
    if feed not in frames:
        raise LookupError(f"reference feed {feed!r} was not delivered; the expectation should have been skipped")
    f = frames[feed]
    mask = f[column].notna()
    for k, v in (where or {}).items():
        mask &= f[k] == v
    return set(f.loc[mask, column])


def reference_ok(column: pd.Series, feed: str, feed_column: str, where: dict | None = None) -> pd.Series:
    return column.isin(reference_values(feed, feed_column, where))


def _present(s: pd.Series) -> pd.Series:
    return s.notna()


def _map_failures(frame: pd.DataFrame, type_: str, kw: dict, params: dict) -> pd.Series:
    """Boolean Series: True where the row fails the expectation."""
    if type_.startswith("expect_column_pair_values"):
        a, b = frame[kw["column_A"]], frame[kw["column_B"]]
        ignore = kw.get("ignore_row_if", "both_values_are_missing")
        skip = (a.isna() | b.isna()) if ignore == "either_value_is_missing" else (a.isna() & b.isna())
        if type_ == "expect_column_pair_values_to_be_equal":
            ok = a == b
        elif type_ == "expect_column_pair_values_a_to_be_greater_than_b":
            ok = a >= b if kw.get("or_equal") else a > b
        elif type_ == "expect_column_pair_values_to_be_in_set":
            pairs = pd.MultiIndex.from_tuples([tuple(p) for p in kw["value_pairs_set"]])
            ok = pd.Series(pd.MultiIndex.from_arrays([a, b]).isin(pairs), index=frame.index)
        else:
            raise NotImplementedError(type_)
        return ~skip & ~ok.fillna(False).astype(bool)
    col = frame[kw["column"]]
    if type_ == "expect_column_values_to_not_be_null":
        return col.isna()
    present = _present(col)
    if type_ == "expect_column_values_to_be_in_set":
        ok = col.isin(kw["value_set"])
    elif type_ == "expect_column_values_to_match_regex":
        ok = col.astype(object).where(present, "").astype(str).str.contains(kw["regex"], regex=True)
    elif type_ == "expect_column_values_to_not_match_regex":
        ok = ~col.astype(object).where(present, "").astype(str).str.contains(kw["regex"], regex=True)
    elif type_ == "expect_column_values_to_be_between":
        ok = pd.Series(True, index=frame.index)
        lo, hi = _param(kw.get("min_value"), params), _param(kw.get("max_value"), params)
        if lo is not None:
            ok &= col >= _like(lo, col)
        if hi is not None:
            ok &= col <= _like(hi, col)
    elif type_ == "expect_column_values_to_be_unique":
        ok = ~col.duplicated(keep=False)
    elif type_ == ID_EXPECTATION:
        ok = C.id_problems(col, today=C.born_by(_param(kw.get("born_by"), params))).isna()
    elif type_ == DATE_EXPECTATION:
        ok = ~C.unparseable(col, kw.get("unit", "day"))
    elif type_ == REFERENCE_EXPECTATION:
        ok = reference_ok(col, kw["feed"], kw["feed_column"], kw.get("where"))
    else:
        raise NotImplementedError(f"the pandas evaluator does not know {type_}")
    return present & ~ok


def _param(value, params: dict):
    if isinstance(value, dict) and "$PARAMETER" in value:
        return params[value["$PARAMETER"]]
    return value


def _like(bound, col: pd.Series):
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return pd.Timestamp(bound)
    return bound


def evaluate_suite(frame: pd.DataFrame, suite: dict, params: dict) -> list[Failure]:
    """The suite's failures on a check frame, with plain vectorised pandas."""
    out = []
    for e in suite["expectations"]:
        failed = _map_failures(frame, e["type"], e["kwargs"], params)
        rows = np.flatnonzero(failed.to_numpy())
        out.append(Failure(e, rows, len(frame)))
    return out


def reasons(frame: pd.DataFrame, failures: list[Failure], params: dict | None = None) -> pd.Series:
    """One reason text per rejected row (index = check-frame positions), in suite order."""
    return format_reasons(reason_parts(frame, failures, params))


def reason_parts(frame: pd.DataFrame, failures: list[Failure], params: dict | None = None) -> pd.DataFrame:
    """The failures as long rows (row, order, header, problem), in suite order. `params`: the
    suites' runtime parameters (period_params), for wording that depends on them (an ID born after
    the period's end)."""
    parts = [pd.DataFrame({"row": pd.Series(dtype="int64"), "order": pd.Series(dtype="int64"),
                           "header": pd.Series(dtype=object), "problem": pd.Series(dtype=object)})]
    for order, f in enumerate(failures):
        if not len(f.rows):
            continue
        problem = f.expectation["meta"].get("problem")
        if problem is None:  # GB 11643: the problem depends on the value
            kw = f.expectation["kwargs"]
            col = frame[kw["column"]].iloc[f.rows]
            problem = C.id_problems(col, today=C.born_by(_param(kw.get("born_by"), params or {}))) \
                .fillna("无效").to_numpy()
        parts.append(pd.DataFrame({"row": np.asarray(f.rows, dtype="int64"), "order": order,
                                   "header": f.header, "problem": problem}))
    return pd.concat(parts, ignore_index=True)


def format_reasons(long: pd.DataFrame) -> pd.Series:
    """Reason texts from long parts: the first problem of each header (lowest order) per row,
    `<header>：<problem>` (or the bare problem when the header is empty), joined by `；`."""
    if not len(long):
        return pd.Series(dtype=object)
    long = long.sort_values(["row", "order"], kind="stable")
    long = long.drop_duplicates(["row", "header"], keep="first")
    header = long["header"].astype(str)
    text = (header + "：" + long["problem"].astype(str)).where(header != "", long["problem"].astype(str))
    return text.groupby(long["row"].to_numpy(), sort=True).agg(R.SEPARATOR.join)


def period_params(period) -> dict:
    """Runtime parameters of the suites for a period (GX expectation parameters)."""
    end: dt.date = period.end
    return {"period_end": f"{end:%Y-%m-%d}T00:00:00"}
