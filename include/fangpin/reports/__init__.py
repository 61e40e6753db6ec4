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


def report_key(kind: str, township_code: str | None = None) -> str:
    """The key a report's deliveries and versions are recorded under (weekly, monthly, quarterly,
    problems:<乡镇代码>)."""
    return f"problems:{township_code}" if kind == "problems" else kind


def _render_versioned(eng, kind: str, period: str, mod, ctx: dict, out_dir: Path, name: str,
                      key: str) -> Path:
    """Renders a report as the version it would be sent as (更正版 N when its content changed after
    a version was sent; fangpin.versions) and writes the version info beside the PDF."""
    from fangpin.versions import prepare, versioned_name, write_meta

    info = prepare(key, str(period), kind, ctx, eng)
    path = render_pdf(mod.TEMPLATE, ctx, Path(out_dir) / versioned_name(name, info["version"]))
    write_meta(path, info)
    if info["version"] > 1:
        log.info("%s %s: content changed since version %d was sent; built as 更正版%d (%s)", key, period,
                 info["version"] - 1, info["version"] - 1, "; ".join(info["changes"]))
    return path


def build_report(kind: str, period: str, out_dir: Path, eng=None) -> Path:
    """Renders the `kind` report (weekly | monthly | quarterly) of `period` to out_dir/<Chinese name>.pdf
    (…_更正版N.pdf for a correction), with its version info in <pdf>.version.json.

    Raises fangpin.reports.common.NoReportData when the period has no data to report on."""
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}; known: {', '.join(KINDS)}")
    mod = _module(kind)
    eng = _engine(eng)
    ctx = mod.build_context(eng, str(period))
    return _render_versioned(eng, kind, str(period), mod, ctx, Path(out_dir), mod.file_name(period), report_key(kind))


def build_township_problems(period: str, township_code: str, out_dir: Path, eng=None,
                            empty: bool = False) -> Path | None:
    """One township's problem-list PDF; None when the township has nothing listed this month
    (unless `empty`, which renders the "no problem" page, or a list was already sent for the
    month: its correction then says the list is now empty)."""
    from fangpin.reports import township
    from fangpin.versions import last_sent

    eng = _engine(eng)
    key = report_key("problems", township_code)
    ctx = township.build_context(eng, str(period), township_code)
    if not ctx["rows"] and not empty and last_sent(key, str(period), eng) is None:
        log.info("%s %s: no problem listed, no problem-list PDF", township_code, period)
        return None
    return _render_versioned(eng, "problems", str(period), township, ctx, Path(out_dir),
                             township.file_name(period, ctx["township_name"]), key)
