"""HTML → PDF: Jinja2 templates from templates/, WeasyPrint, CJK fonts, matplotlib SVG charts.

Every PDF extends templates/base.html (title block, page numbers 第 X 页 / 共 Y 页, repeated table
headers) and uses templates/style.css. WeasyPrint is imported lazily (it is slow to import).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from fangpin.config import settings

log = logging.getLogger(__name__)
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC")


class FontMissing(RuntimeError):
    pass


@lru_cache(maxsize=1)
def check_fonts() -> str:
    """The CJK font family the PDFs use; raises when none is installed (Chinese would render as boxes)."""
    if shutil.which("fc-list"):
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
        for fam in CJK_FAMILIES:
            if fam in out:
                return fam
    raise FontMissing("no CJK font found (install the Debian package fonts-noto-cjk); "
                      "Chinese text would render as boxes")


def _fmt_int(v) -> str:
    try:
        return f"{int(round(float(v))):,}"
    except (TypeError, ValueError, OverflowError):  # None, text, NaN, inf
        return "—" if v is None or v != v else str(v)


def _fmt_money(v) -> str:
    try:
        return f"{float(v):,.2f}"
    except (TypeError, ValueError):
        return "—"


def _fmt_pct(v, digits: int = 1) -> str:
    """0.4514 -> '45.1%'; None / NaN / not a number -> '—' (never 'nan%')."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    return "—" if f != f or f in (float("inf"), float("-inf")) else f"{f * 100:.{digits}f}%"


def _fmt_date(v) -> str:
    if isinstance(v, (dt.date, dt.datetime)):
        return f"{v.year}年{v.month}月{v.day}日"
    return "—" if v is None else str(v)


@lru_cache(maxsize=4)
def environment(templates_dir: str | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir or str(settings().templates_dir)),
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(int=_fmt_int, money=_fmt_money, pct=_fmt_pct, cndate=_fmt_date)
    return env


def render_html(template: str, context: dict) -> str:
    s = settings()
    ctx = {"settings": s, "font_family": check_fonts(), "area": s.area_word, "correction": None, **context}
    return environment().get_template(template).render(**ctx)


class _SvgPropertyNoise(logging.Filter):
    """Drops WeasyPrint's "Ignored `fill: …`, unknown property" warnings: its HTML CSS parser sees
    the inline charts' SVG presentation styles, which its SVG renderer does apply. Hundreds per
    report would bury real warnings in the Airflow task log; every other warning passes."""

    _svg = re.compile(r"^Ignored `(fill|stroke[-a-z]*|text-anchor|clip-path|font-[a-z]+)\s*:.*unknown property")

    def filter(self, record: logging.LogRecord) -> bool:
        return not self._svg.match(record.getMessage())


_weasy_log = logging.getLogger("weasyprint")
if not any(isinstance(f, _SvgPropertyNoise) for f in _weasy_log.filters):
    _weasy_log.addFilter(_SvgPropertyNoise())


def render_pdf(template: str, context: dict, out_path: Path) -> Path:
    """Renders `template` with `context` to a PDF at `out_path` (parents created)."""
    from weasyprint import HTML

    html = render_html(template, context)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    HTML(string=html, base_url=str(settings().templates_dir)).write_pdf(out_path)
    log.info("rendered %s (%d bytes)", out_path.name, out_path.stat().st_size)
    return out_path


def svg_chart(fig) -> str:
    """A matplotlib figure as inline SVG markup (closed afterwards)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    return _unique_ids(svg[svg.index("<svg"):], f"c{next(_chart_ids)}-")


_chart_ids = itertools.count(1)
_ID_REF = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


def _unique_ids(svg: str, prefix: str) -> str:
    """Prefixes every id in a matplotlib SVG (and every reference to one): matplotlib numbers them
    per figure (figure_1, patch_1, …), so two charts inlined in one page would define the same
    anchors (WeasyPrint warns, and a clip path could resolve to the other chart's)."""
    return _ID_REF.sub(lambda m: m.group(1) + prefix + m.group(2), svg)


def pyplot():
    """matplotlib.pyplot on the non-interactive backend with a CJK font configured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.sans-serif"] = [check_fonts(), *CJK_FAMILIES, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["svg.fonttype"] = "none"
    return plt
