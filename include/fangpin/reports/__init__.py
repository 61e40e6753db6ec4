"""Reports for people: 周统计 (weekly), 月通报 (monthly), 季调度 (quarterly) and each township's
问题清单 (problem list), as PDFs.

Each report module has build_context(eng, period, ...) -> a plain dict (testable without a
PDF), TEMPLATE, file_name(...) (the Chinese file name) and ascii_name(...) (the ASCII fallback
used in email). This package renders them with fangpin.render (Jinja2 + WeasyPrint).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fangpin.render import render_pdf

log = logging.getLogger(__name__)

KINDS = ("weekly", "monthly", "quarterly")


def _module(kind: str):
    from fangpin.reports import monthly, quarterly, township, weekly

    modules = {"weekly": weekly, "monthly": monthly, "quarterly": quarterly, "problems": township}
    try:
        return modules[kind]
    except KeyError:
        raise ValueError(f"unknown report kind {kind!r}; known: {', '.join(modules)}") from None


def _engine(eng):
    if eng is not None:
        return eng
    from fangpin.store import db

    return db.engine()


def build_context(kind: str, period: str, eng=None, **kwargs) -> dict:
    return _module(kind).build_context(_engine(eng), period, **kwargs)


def file_name(kind: str, period: str) -> str:
    return _module(kind).file_name(period)


def ascii_name(kind: str, period: str) -> str:
    return _module(kind).ascii_name(period)


def build_report(kind: str, period: str, out_dir: Path, eng=None) -> Path:
    """Renders the `kind` report (weekly | monthly | quarterly) of `period` to out_dir/<Chinese name>.pdf."""
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}; known: {', '.join(KINDS)}")
    mod = _module(kind)
    ctx = mod.build_context(_engine(eng), str(period))
    return render_pdf(mod.TEMPLATE, ctx, Path(out_dir) / mod.file_name(period))


def build_township_problems(period: str, township_code: str, out_dir: Path, eng=None,
                            empty: bool = False) -> Path | None:
    """One township's problem-list PDF; None when the township has nothing listed this month
    (unless `empty`, which renders the "no problem" page)."""
    from fangpin.reports import township

    ctx = township.build_context(_engine(eng), str(period), township_code)
    if not ctx["rows"] and not empty:
        log.info("%s %s: no problem listed, no problem-list PDF", township_code, period)
        return None
    return render_pdf(township.TEMPLATE, ctx, Path(out_dir) / township.file_name(period, ctx["township_name"]))
