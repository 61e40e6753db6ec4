"""Charts for the leaders' reports: matplotlib figures returned as inline SVG markup.

Each function takes plain lists (labels and values; None/NaN = no data) and returns an `<svg>`
string that a template includes with `|safe`. Text stays text in the SVG (svg.fonttype none)
and is drawn by WeasyPrint with the CJK font, so Chinese labels render and can be extracted.
"""

from __future__ import annotations

import math

from fangpin.render import pyplot, svg_chart

PALETTE = ("#b00000", "#1f4e9c", "#d28c00", "#2e7d32", "#6a1b9a", "#455a64")
LIST_COLOURS = {"蓝单": "#1f4e9c", "黄单": "#d8a900", "红单": "#b00000"}


def _area() -> str:
    from fangpin.config import settings

    return settings().area_word


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _fmt(v: float, pct: bool) -> str:
    if math.isnan(v):
        return "无数据"
    return f"{v * 100:.1f}%" if pct else f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _style(ax, title: str | None):
    if title:
        ax.set_title(title, fontsize=11, pad=16)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)


def hbar(labels: list[str], values: list, title: str | None = None, pct: bool = False,
         highlight: list[str] | None = None, reference: float | None = None, xlabel: str | None = None,
         reference_label: str | None = None) -> str:
    """Horizontal bars, one per label (top to bottom in the given order), value printed at the end;
    `reference` draws a dashed line labelled `reference_label` (default 全区/全县 from the settings)."""
    plt = pyplot()
    vals = [_num(v) for v in values]
    fig, ax = plt.subplots(figsize=(6.6, max(1.6, 0.26 * len(labels) + 0.8)))
    ys = list(range(len(labels)))[::-1]
    hl = set(highlight or [])
    colours = [PALETTE[0] if lab in hl else PALETTE[1] for lab in labels]
    ax.barh(ys, [0 if math.isnan(v) else v for v in vals], color=colours, height=0.65)
    top = max([v for v in vals if not math.isnan(v)] + [1e-9])
    for y, v in zip(ys, vals):
        ax.text((0 if math.isnan(v) else v) + top * 0.01, y, _fmt(v, pct), va="center", fontsize=7.5)
    ax.set_yticks(ys, labels)
    ax.set_xlim(0, (1.0 if pct else top) * 1.15)
    if pct:
        ax.xaxis.set_major_formatter(lambda x, _: f"{x * 100:.0f}%")
    if reference is not None and not math.isnan(_num(reference)):
        ax.axvline(reference, color="#888", linestyle="--", linewidth=0.8,
                   label=f"{reference_label or _area()} {_fmt(_num(reference), pct)}")
        ax.legend(fontsize=7.5, frameon=False, loc="lower right")
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=8)
    _style(ax, title)
    return svg_chart(fig)


def grouped_bars(labels: list[str], series: dict[str, list], title: str | None = None, pct: bool = False,
                 ylabel: str | None = None) -> str:
    """Vertical bars grouped by label, one bar per series (e.g. three months side by side)."""
    plt = pyplot()
    n = max(1, len(series))
    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    width = 0.8 / n
    for i, (name, vals) in enumerate(series.items()):
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(labels))]
        ax.bar(xs, [0 if math.isnan(_num(v)) else _num(v) for v in vals], width=width * 0.95,
               color=PALETTE[i % len(PALETTE)], label=name)
    ax.set_xticks(range(len(labels)), labels, rotation=60 if len(labels) > 8 else 0,
                  ha="right" if len(labels) > 8 else "center")
    if pct:
        ax.set_ylim(0, 1.05)
        ax.yaxis.set_major_formatter(lambda y, _: f"{y * 100:.0f}%")
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=7.5, frameon=False, ncol=n, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    _style(ax, title)
    return svg_chart(fig)


def lines(x_labels: list[str], series: dict[str, list], title: str | None = None, pct: bool = False) -> str:
    """One line per series over a few periods, values labelled at each point."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 2.6))
    for i, (name, vals) in enumerate(series.items()):
        ys = [_num(v) for v in vals]
        ax.plot(range(len(x_labels)), ys, marker="o", color=PALETTE[i % len(PALETTE)], label=name, linewidth=1.6)
        for x, y in zip(range(len(x_labels)), ys):
            if not math.isnan(y):
                ax.annotate(_fmt(y, pct), (x, y), textcoords="offset points", xytext=(0, 5), ha="center",
                            fontsize=7)
    ax.set_xticks(range(len(x_labels)), x_labels)
    ax.set_xlim(-0.4, len(x_labels) - 0.6)
    if pct:
        ax.yaxis.set_major_formatter(lambda y, _: f"{y * 100:.0f}%")
    ax.set_ylim(bottom=0)
    ax.margins(y=0.2)
    ax.legend(fontsize=7.5, frameon=False, ncol=len(series), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    _style(ax, title)
    return svg_chart(fig)


def stacked_lists(labels: list[str], blue: list, yellow: list, red: list, title: str | None = None) -> str:
    """Horizontal stacked bars of blue / yellow / red list counts per township."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.6, max(1.6, 0.26 * len(labels) + 0.8)))
    ys = list(range(len(labels)))[::-1]
    left = [0.0] * len(labels)
    for name, vals in (("红单", red), ("黄单", yellow), ("蓝单", blue)):
        v = [0 if math.isnan(_num(x)) else _num(x) for x in vals]
        ax.barh(ys, v, left=left, color=LIST_COLOURS[name], height=0.65, label=name)
        left = [a + b for a, b in zip(left, v)]
    ax.set_yticks(ys, labels)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7.5, frameon=False, ncol=3, loc="lower right")
    _style(ax, title)
    return svg_chart(fig)
