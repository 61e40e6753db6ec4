"""Dated policy parameters, read through one function: `param(name, on=date, province=...)`.

Values live in parameters.yaml beside this module (or the file named by the setting
`params_file`): each with the date it takes effect and the notice it comes from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_FILE = Path(__file__).with_name("parameters.yaml")
NATIONAL = "*"


@dataclass(frozen=True)
class ParamValue:
    name: str
    value: object
    since: dt.date
    reference: str
    province: str
    description: str
    unit: str


class ParameterError(LookupError):
    pass


@lru_cache(maxsize=8)
def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    for name, spec in data.items():
        for prov, entries in spec.get("values", {}).items():
            for since, entry in entries.items():
                if not isinstance(since, dt.date) or "value" not in entry or not entry.get("reference"):
                    raise ParameterError(f"{path}: {name} [{prov}] {since}: needs a date, a value and a reference")
    return data


def _path(path: str | Path | None) -> str:
    if path is None:
        from fangpin.config import settings

        path = settings().params_file or DEFAULT_FILE
    return str(path)


def lookup(name: str, on: dt.date, province: str | None = None, path=None) -> ParamValue:
    """The value of `name` in force on `on` for `province` (falling back to national)."""
    data = _load(_path(path))
    if name not in data:
        raise ParameterError(f"unknown parameter {name!r}")
    spec = data[name]
    if province is None:
        from fangpin.config import settings

        province = settings().province
    for prov in (province, NATIONAL):
        entries = spec.get("values", {}).get(prov)
        if not entries:
            continue
        in_force = [d for d in entries if d <= on]
        if in_force:
            since = max(in_force)
            e = entries[since]
            return ParamValue(name, e["value"], since, e["reference"], prov,
                              spec.get("description", ""), spec.get("unit", ""))
    raise ParameterError(f"parameter {name!r} has no value in force on {on} for {province!r}")


def param(name: str, on: dt.date, province: str | None = None, path=None):
    """The bare value of a parameter on a date."""
    return lookup(name, on, province, path).value


def day_of_next_month(period, name: str, province: str | None = None, path=None) -> dt.date:
    """Day `name` (a dated parameter in days, read on that month's first day) of the month after
    `period` (a Month or YYYY-MM): the calendar's "the 6th of M+1" (ingest and push, bulletin,
    review draw, quarterly meeting)."""
    from fangpin.periods import Month

    nxt = Month.parse(str(period)).shift(1).start
    return nxt + dt.timedelta(days=int(param(name, nxt, province, path)) - 1)


def all_in_force(on: dt.date, province: str | None = None, path=None) -> list[ParamValue]:
    """Every parameter in force on a date (printed in reports as the method's basis). A parameter
    with no value for the province nor a national one (e.g. a 低保 standard set only for some
    provinces) is not in force there and is left out; `explain` reports it."""
    out = []
    for n in _load(_path(path)):
        try:
            out.append(lookup(n, on, province, path))
        except ParameterError:
            continue
    return out


@dataclass(frozen=True)
class Explanation:
    """Which value of a parameter applies on a date for a province, and why (`fangpin params`)."""

    name: str
    description: str
    unit: str
    value: object          # None when no value applies
    since: dt.date | None
    province: str | None   # whose value applies: the province, or NATIONAL
    reference: str
    why: str               # in Chinese: province value / national default / none, and what it overrides
    next_change: tuple[dt.date, object] | None  # the next dated value for that province, if any


def explain(on: dt.date, province: str | None = None, path=None, prefix: str = "") -> list[Explanation]:
    """Every parameter (whose name starts with `prefix`) with the value that applies on `on` for
    `province`, and why: the province's own dated value wins over the national one; a province
    without its own value takes the national one; before the first dated value nothing applies."""
    data = _load(_path(path))
    if province is None:
        from fangpin.config import settings

        province = settings().province
    out = []
    for name, spec in data.items():
        if not name.startswith(prefix):
            continue
        values = spec.get("values", {})
        desc, unit = spec.get("description", ""), spec.get("unit", "")
        try:
            v = lookup(name, on, province, path)
        except ParameterError:
            has = "、".join(p for p in values if p != NATIONAL) or "无"
            out.append(Explanation(name, desc, unit, None, None, None, "",
                                   f"{on} 对{province}无适用值（已规定的省份：{has}；无全国值）", None))
            continue
        if v.province == NATIONAL:
            why = f"全国默认值（{province}未单独规定）" if province != NATIONAL else "全国值"
        else:
            national = [d for d in values.get(NATIONAL, {}) if d <= on]
            over = f"，优先于全国值 {values[NATIONAL][max(national)]['value']}" if national else ""
            why = f"{province}省级值{over}"
        later = sorted(d for d in values.get(v.province, {}) if d > on)
        nxt = (later[0], values[v.province][later[0]]["value"]) if later else None
        out.append(Explanation(name, desc, unit, v.value, v.since, v.province, v.reference, why, nxt))
    return out
