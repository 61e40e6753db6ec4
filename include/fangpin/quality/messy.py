"""Row problems of messy exports that no expectation suite states (data contract section 1,
"Messy exports"), and their merge with the suites' failures into one reason per row.

- an ID cell that Excel stored as a number (an xlsx number cell, `4.51302E+17`, `…1234.0`):
  `身份证号：被存为数字，已失真` — it replaces the column's other problem (校验位错误 …);
- a 合计/总计/小计 row: `合计行`, and a row with cells past the header: `列数多于表头` — these are
  the row's whole reason (its other "problems" only come from not being a data row);
- control characters (NUL …) in a contract column: `<列>：含控制字符`; names over 50 characters
  and any cell over 2,000: `<列>：超过N个字符`;
- duplicates of an event row (medical, disability), among the rows that pass every other check:
  exact copies after the first `重复`; same person and date(s) but different values, every copy
  `重复且矛盾` (medical: same 入院日期 and 出院日期, other amounts; disability: same 发证日期,
  other 残疾类别 or 残疾等级).
Everything is vectorised over the feed's columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin import reasons as R
from fangpin.quality import evaluate as E
from fangpin.quality import normalise as N

# A cell that makes the row a total row: 合计, 总计：, 小计(3户) … (blanks inside ignored).
TOTAL_REGEX = r"^(?:合计|总计|小计)(?:[:：].*|[（(].*)?$"
# Columns holding a person's name (the 50-character limit).
NAME_COLUMNS = {"head_name", "name", "inspector"}
# Event feeds: (columns a copy must repeat, columns naming "the same person and date").
EVENT_KEYS = {
    "medical": (("id_number", "admission_date__date", "discharge_date__date", "total_cost__number",
                 "out_of_pocket__number"), ("id_number", "admission_date__date", "discharge_date__date")),
    "disability": (("id_number", "disability_type", "disability_grade", "issue_date__date"),
                   ("id_number", "issue_date__date")),
}
_EMPTY = pd.DataFrame({"row": pd.Series(dtype="int64"), "order": pd.Series(dtype="int64"),
                       "header": pd.Series(dtype=object), "problem": pd.Series(dtype=object)})


def _parts(rows, order: int, header: str, problem) -> pd.DataFrame:
    rows = np.asarray(rows, dtype="int64")
    return pd.DataFrame({"row": rows, "order": order, "header": header, "problem": problem})


def cell_parts(raw, feed: F.Feed) -> pd.DataFrame:
    """Column problems found on the delivered cells (order -1: they come before the suites')."""
    parts = [_EMPTY]
    frame, original = raw.frame, raw.original
    for c in feed.columns:
        if c.name not in frame.columns:  # an optional column the file does not have
            continue
        if c.kind == F.ID_NUMBER:
            numeric = N.numeric_id_text(frame[c.name]).to_numpy()
            cells = raw.numeric_cells.get(c.name)
            if cells is not None:
                numeric = numeric | (cells & (frame[c.name] != "").to_numpy())
            parts.append(_parts(np.flatnonzero(numeric), -3, c.zh, R.STORED_AS_NUMBER))
        orig = original[c.name].astype(str)
        parts.append(_parts(np.flatnonzero(N.has_control(orig).to_numpy()), -2, c.zh, R.CONTROL_CHARS))
        length = frame[c.name].str.len().to_numpy()
        limit = R.NAME_LIMIT if c.name in NAME_COLUMNS else R.CELL_LIMIT
        parts.append(_parts(np.flatnonzero(length > limit), -1, c.zh, R.too_long(limit)))
    return pd.concat(parts, ignore_index=True)


def exclusive_rows(raw) -> pd.Series:
    """Rows whose whole reason is 合计行 or 列数多于表头 (index = positions)."""
    frame = raw.frame
    cols = [c for c in frame.columns if c != "source_row"]
    total = np.zeros(len(frame), dtype=bool)
    for c in cols:
        s = frame[c]
        if N.any_match(s, "[合总小]计"):
            total |= s.str.replace(f"[{N.BLANKS}]", "", regex=True).str.contains(TOTAL_REGEX, regex=True).to_numpy()
    out = pd.Series(None, index=pd.RangeIndex(len(frame)), dtype=object)
    out[np.asarray(raw.overflow, dtype=bool)] = R.TOO_MANY_CELLS
    out[total] = R.TOTAL_ROW
    return out.dropna()


def duplicate_parts(feed: F.Feed, check: pd.DataFrame, clean_rows: np.ndarray) -> pd.DataFrame:
    """重复 / 重复且矛盾 among the rows at positions `clean_rows` (those with no other problem)."""
    keys = EVENT_KEYS.get(feed.name)
    if keys is None or not len(clean_rows):
        return _EMPTY
    full, same = keys
    sub = check.iloc[clean_rows][list(full)]
    complete = sub.notna().all(axis=1).to_numpy()
    sub = sub[complete]
    rows = np.asarray(clean_rows)[complete]
    if not len(sub):
        return _EMPTY
    sub = sub.reset_index(drop=True)
    variants = sub.drop_duplicates(list(full)).groupby(list(same), sort=False).size()
    group_n = sub.groupby(list(same), sort=False)[list(same)[0]].transform("size").to_numpy()
    contra_keys = variants[variants > 1].index
    contradictory = pd.MultiIndex.from_frame(sub[list(same)]).isin(contra_keys) & (group_n > 1)
    later_copy = sub.duplicated(list(full), keep="first").to_numpy() & ~contradictory
    return pd.concat([_EMPTY, _parts(rows[contradictory], 10_000, "", R.CONTRADICTORY_DUPLICATE),
                      _parts(rows[later_copy], 10_000, "", R.EXACT_DUPLICATE)], ignore_index=True)


def row_reasons(raw, feed: F.Feed, check: pd.DataFrame, failures: list, params: dict | None = None) -> pd.Series:
    """One reason text per rejected row (index = positions): suites + messy-export problems."""
    long = pd.concat([cell_parts(raw, feed), E.reason_parts(check, failures, params)], ignore_index=True)
    exclusive = exclusive_rows(raw)
    flagged = np.zeros(len(check), dtype=bool)
    flagged[long["row"].to_numpy(dtype="int64")] = True
    flagged[exclusive.index.to_numpy(dtype="int64")] = True
    long = pd.concat([long, duplicate_parts(feed, check, np.flatnonzero(~flagged))], ignore_index=True)
    long = long[~long["row"].isin(exclusive.index)]
    why = E.format_reasons(long)
    if len(exclusive):
        why = pd.concat([why, exclusive]).sort_index()
    return why.astype(object)
