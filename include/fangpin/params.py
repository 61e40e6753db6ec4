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


def all_in_force(on: dt.date, province: str | None = None, path=None) -> list[ParamValue]:
    """Every parameter in force on a date (printed in reports as the method's basis)."""
    return [lookup(n, on, province, path) for n in _load(_path(path))]
