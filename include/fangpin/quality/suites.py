"""The declarative expectation suites (expectations/<feed>.json).

The JSON files are what runs: change a threshold or a value set there, no code. They were
written from the feed declarations by `python -m fangpin.quality.suites [DIR]` (write_suites),
which is only a bootstrap: run it again after adding a column to feeds.py and review the diff.

Each expectation's `meta` tells the validator what a failure means for the quarantine:
    header   the Chinese column header the reason names (e.g. 身份证号)
    problem  the problem wording (fangpin.reasons); absent for the GB 11643 expectation, whose
             problem is worked out per value (fangpin.ids wording: 校验位错误, …)
    needs    another feed that must have been delivered (and read) for the check to run
Columns ending in __number, __date, __month and __digits, and `member_count`, are derived by
fangpin.quality.prepare from the text columns (see there).
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

from fangpin import feeds as F
from fangpin import reasons as R
from fangpin.quality.checks import FRACTION_REGEX, NUMBER_REGEX, PHONE_REGEX

ID_EXPECTATION = "expect_column_values_to_be_valid_gb11643_id"
DATE_EXPECTATION = "expect_column_values_to_be_valid_dates"
REFERENCE_EXPECTATION = "expect_column_values_to_exist_in_feed"
PERIOD_END = {"$PARAMETER": "period_end"}


def _e(type_: str, header: str, problem: str | None, needs: str | None = None, **kwargs) -> dict:
    meta = {"header": header}
    if problem is not None:
        meta["problem"] = problem
    if needs:
        meta["needs"] = needs
    return {"type": type_, "kwargs": kwargs, "meta": meta}


def enum_list_regex(values) -> str:
    """Anchored regex of one or more `values` joined by 、 (each item validated; spaces around 、 allowed)."""
    item = "(?:" + "|".join(values) + ")"
    return rf"^{item}(?:\s*{F.RISK_TYPE_SEP}\s*{item})*$"


def _column_expectations(c: F.Column) -> list[dict]:
    out = []
    if c.required:
        out.append(_e("expect_column_values_to_not_be_null", c.zh, R.MISSING, column=c.name))
    if c.kind == F.ID_NUMBER:
        out.append(_e(ID_EXPECTATION, c.zh, None, column=c.name, born_by=PERIOD_END))
    elif c.kind == F.PHONE:
        out.append(_e("expect_column_values_to_match_regex", c.zh, R.BAD_PHONE, column=c.name, regex=PHONE_REGEX))
    elif c.kind == F.CODE:
        regex = "^(?:" + "|".join(rf"[0-9]{{{n}}}" for n in c.digits) + ")$"
        out.append(_e("expect_column_values_to_match_regex", c.zh, R.BAD_CODE, column=c.name, regex=regex))
    elif c.kind == F.ENUM:
        out.append(_e("expect_column_values_to_be_in_set", c.zh, R.BAD_ENUM, column=c.name, value_set=list(c.values)))
    elif c.kind == F.ENUM_LIST:
        out.append(_e("expect_column_values_to_match_regex", c.zh, R.BAD_ENUM, column=c.name,
                      regex=enum_list_regex(c.values)))
    elif c.kind in (F.MONEY, F.COUNT):
        out.append(_e("expect_column_values_to_match_regex", c.zh, R.NOT_A_NUMBER, column=c.name, regex=NUMBER_REGEX))
        if c.kind == F.COUNT:
            out.append(_e("expect_column_values_to_not_match_regex", c.zh, R.NOT_INTEGER, column=c.name,
                          regex=FRACTION_REGEX))
        out.append(_e("expect_column_values_to_be_between", c.zh, R.NEGATIVE, column=f"{c.name}__number",
                      min_value=0))
        if c.max_value is not None:
            out.append(_e("expect_column_values_to_be_between", c.zh, R.TOO_LARGE, column=f"{c.name}__number",
                          max_value=c.max_value))
    elif c.kind in (F.DATE, F.MONTH):
        unit = "day" if c.kind == F.DATE else "month"
        out.append(_e(DATE_EXPECTATION, c.zh, R.BAD_DATE if unit == "day" else R.BAD_MONTH, column=c.name, unit=unit))
        suffix = "__date" if unit == "day" else "__month"
        out.append(_e("expect_column_values_to_be_between", c.zh, R.AFTER_PERIOD, column=c.name + suffix,
                      max_value=PERIOD_END))
    return out


def suite_for(feed: F.Feed) -> dict:
    """The suite of one feed, as written to expectations/<feed>.json."""
    exps: list[dict] = []
    for c in feed.columns:
        exps += _column_expectations(c)
    for name in feed.unique:
        exps.append(_e("expect_column_values_to_be_unique", feed.zh_of(name), R.DUPLICATE, column=name))
    if feed.name == "regions":
        exps.append(_e("expect_column_pair_values_to_be_in_set", "级别", R.LEVEL_MISMATCH,
                       column_A="level", column_B="code__digits",
                       value_pairs_set=[["乡镇", 9], ["村", 12]], ignore_row_if="either_value_is_missing"))
    for ref in feed.references:
        problem = R.UNKNOWN_VILLAGE if ref.feed == "regions" else R.UNKNOWN_HOUSEHOLD
        where = {"level": "村"} if ref.feed == "regions" else None
        kwargs = dict(column=ref.column, feed=ref.feed, feed_column=ref.target)
        if where:
            kwargs["where"] = where
        exps.append(_e(REFERENCE_EXPECTATION, feed.zh_of(ref.column), problem, needs=ref.feed, **kwargs))
    if feed.name == "households":
        exps.append(_e("expect_column_pair_values_to_be_equal", feed.zh_of("declared_size"), R.SIZE_MISMATCH,
                       needs="members", column_A="declared_size__number", column_B="member_count",
                       ignore_row_if="either_value_is_missing"))
    if feed.name == "medical":
        exps.append(_e("expect_column_pair_values_a_to_be_greater_than_b", feed.zh_of("discharge_date"),
                       R.DATE_ORDER, column_A="discharge_date__date", column_B="admission_date__date",
                       or_equal=True, ignore_row_if="either_value_is_missing"))
    return {
        "name": feed.name,
        "meta": {"feed": feed.name, "department": feed.department,
                 "notes": f"{feed.department}：{feed.row}。数据契约第1节的有效性规则；失败行进入隔离区，原因见各期望的 meta。"},
        "expectations": exps,
    }


def suites_dir() -> Path:
    from fangpin.config import settings

    return Path(settings().expectations_dir)


def write_suites(directory: Path | None = None) -> list[Path]:
    """Writes expectations/<feed>.json for every feed from feeds.py (bootstrap; review the diff)."""
    directory = Path(directory or suites_dir())
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for feed in F.FEEDS.values():
        p = directory / f"{feed.name}.json"
        p.write_text(json.dumps(suite_for(feed), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        paths.append(p)
    return paths


@lru_cache(maxsize=64)
def _load(path: str, mtime: float) -> str:
    return Path(path).read_text(encoding="utf-8")


def load_suite(feed: str, directory: Path | None = None) -> dict:
    """The suite that runs for `feed` (a fresh dict: callers may change it)."""
    p = Path(directory or suites_dir()) / f"{feed}.json"
    if not p.is_file():
        raise FileNotFoundError(f"expectation suite missing: {p}")
    return json.loads(_load(str(p), p.stat().st_mtime))


if __name__ == "__main__":
    for written in write_suites(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(written)
