"""Numbers a leader can trust: every figure of the letter and summaries equals the tables and
the lists it summarises, on a generated county run through the pipeline for three consecutive
months (a whole quarter) on one database.

For each report (月通报, each township's 问题清单, 季调度) the context is built from the database
and its summary figures are recomputed from its own table rows and problem-list entries, and
from the database where the figure is a count of stored rows.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sqlalchemy import select

from fangpin import pipeline
from fangpin.periods import Month
from fangpin.render import render_html
from fangpin.reports import common as C
from fangpin.reports import monthly, quarterly, township
from fangpin.store import db
from fangpin.store.db import read_feed
from fangpin.store.models import QuarantinedRow, ScreeningResult

MONTHS = ("2026-07", "2026-08", "2026-09")
COUNTS = ("households", "households_quarantined", "monitored", "monitored_persons", "new_entries",
          "eliminated_total", "eliminated_persons", "eliminated_in_month", "suspected", "suspected_new",
          "suspected_high", "should_monitor", "pushed", "verified_on_time", "verified_late", "overdue", "pending",
          "spot_called", "spot_passed", "problems_listed", "problems_closed", "problems_new", "red", "yellow", "blue",
          "should_monitor_listed")


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    """Three consecutive months of a generated county (400 households) through ingest, screening,
    the spot-check draw and the problems, on one SQLite database."""
    from fangpin.generate import generate_county

    root = tmp_path_factory.mktemp("year")
    eng = db.engine(f"sqlite:///{root / 'fangpin.db'}")
    for period in MONTHS:
        data, out = root / "incoming" / period, root / "output" / period
        generate_county(data, period, households=400, seed=11)
        pipeline.ingest(data, period, out_dir=out, eng=eng, build_docs=False)
        pipeline.screen_period(period, str(out), eng=eng)
        pipeline.sample_period(period, str(out), eng=eng)
        pipeline.derive_problems(period, eng=eng)
    return eng


def _letter(ctx) -> str:
    return "".join(ctx["letter"])


@pytest.mark.parametrize("period", MONTHS)
def test_bulletin_letter_equals_its_tables_and_lists(county, period):
    ctx = monthly.build_context(county, period)
    rows, total = ctx["rows"], ctx["total"]
    # per-township rows add up to the county row, for every count
    for key in COUNTS:
        assert sum(r[key] for r in rows) + (total.get("households_quarantined_unattributed", 0)
                                            if key == "households_quarantined" else 0) == total[key], key
    # every pushed household is in exactly one verification state
    for r in [*rows, total]:
        assert r["verified_on_time"] + r["verified_late"] + r["overdue"] + r["pending"] == r["pushed"]
    # problem lists: counts by colour = list entries
    listed = [p for sec in ctx["problem_sections"] for p in sec["rows"]]
    assert total["problems_listed"] == len(listed)
    for colour, key in ((C.RED, "red"), (C.YELLOW, "yellow"), (C.BLUE, "blue")):
        assert total[key] == sum(p["colour"] == colour for p in listed)
    for sec in ctx["problem_sections"]:
        row = next(r for r in rows if r["township_code"] == sec["code"])
        assert row["problems_listed"] == len(sec["rows"])
        assert (row["red"], row["yellow"], row["blue"]) == tuple(sec["counts"][c] for c in C.COLOURS)
    assert len(ctx["escalated"]) == total["red"] + total["yellow"]
    assert set(ctx["visit"]["red"]) == {sec["name"] for sec in ctx["problem_sections"] if sec["counts"][C.RED]}
    # the letter quotes exactly those figures
    text = _letter(ctx)
    should_listed = sum(p["problem_type"] == "应纳未纳" for p in listed)
    for phrase in (f"现有监测户{total['monitored']:,}户{total['monitored_persons']:,}人",
                   f"推送乡镇核实{total['pushed']:,}户", f"按期核实{total['verified_on_time']:,}户",
                   f"逾期核实{total['verified_late']:,}户", f"逾期未核实{total['overdue']:,}户",
                   f"尚在核实期内{total['pending']:,}户", f"“应纳未纳”问题{should_listed:,}个",
                   f"本期清单共列问题{len(listed):,}个", f"红单{total['red']:,}个", f"黄单{total['yellow']:,}个",
                   f"蓝单{total['blue']:,}个", f"疑似返贫致贫风险户{total['suspected']:,}户"):
        assert phrase in text, phrase
    assert "nan" not in text.lower()


@pytest.mark.parametrize("period", MONTHS)
def test_bulletin_figures_equal_the_stored_rows(county, period):
    month = Month.parse(period)
    ctx = monthly.build_context(county, period)
    total = ctx["total"]
    # pushes: the month's pushes of households not already monitored
    t = ScreeningResult.__table__
    with county.connect() as conn:
        sr = pd.read_sql(select(t).where(t.c.pushed_on >= month.start, t.c.pushed_on <= month.end), conn)
    assert total["pushed"] == int((~sr["already_monitored"].astype(bool)).sum())
    # persons: members of the monitored households
    hh = read_feed(county, "households", period)
    mem = read_feed(county, "members", period).groupby("household_id").size()
    size = mem.reindex(hh["household_id"]).fillna(hh.set_index("household_id")["declared_size"]).to_numpy()
    monitored = (hh["category"] == "监测户").to_numpy()
    eliminated = monitored & (hh["risk_eliminated"] == "是").to_numpy()
    assert total["monitored_persons"] == int(size[monitored].sum())
    assert total["eliminated_persons"] == int(size[eliminated].sum())
    assert total["elimination_rate_persons"] == pytest.approx(size[eliminated].sum() / size[monitored].sum())
    # quarantined households: named as such, never silently missing
    q = QuarantinedRow.__table__
    with county.connect() as conn:
        raw = [r[0] for r in conn.execute(select(q.c.raw).where(q.c.period == period, q.c.feed == "households"))]
    ids = {str(r.get("户编号", "")).strip() for r in raw} - set(hh["household_id"])
    assert total["households_quarantined"] == len(ids)
    assert total["households_with_quarantined"] == total["households"] + len(ids)
    if ids:
        assert "含隔离" in _letter(ctx) and f"{len(ids):,}户因数据校验未通过被隔离" in _letter(ctx)


def test_the_generated_county_exercises_the_figures(county):
    """The checks above are not vacuous: late verifications, quarantined households, problems of
    every colour and missing indicators occur in the three months."""
    ctxs = [monthly.build_context(county, p) for p in MONTHS]
    assert sum(c["total"]["pushed"] for c in ctxs) > 0
    assert sum(c["total"]["households_quarantined"] for c in ctxs) > 0
    assert sum(c["total"]["problems_listed"] for c in ctxs) > 0
    assert sum(c["total"]["red"] for c in ctxs) > 0


@pytest.mark.parametrize("period", MONTHS)
def test_rendered_bulletin_has_no_nan_and_one_area_word(county, period):
    ctx = monthly.build_context(county, period)
    html = render_html(monthly.TEMPLATE, ctx)
    assert not re.search(r"\bnan\b|nan%|NaN", html)
    assert "全区" in html and "全县" not in html  # 兴宾区: charts and text alike


@pytest.mark.parametrize("period", MONTHS)
def test_township_lists_equal_the_bulletin(county, period):
    ctx = monthly.build_context(county, period)
    sections = {s["code"]: s for s in ctx["problem_sections"]}
    for code in ctx["rows"] and [r["township_code"] for r in ctx["rows"]]:
        t = township.build_context(county, period, code)
        sec = sections.get(code)
        assert [r["problem_id"] for r in t["rows"]] == ([p["problem_id"] for p in sec["rows"]] if sec else [])
        assert t["counts"] == (sec["counts"] if sec else {c: 0 for c in C.COLOURS})
        assert t["open_count"] + t["closed_count"] == len(t["rows"])
        assert t["open_count"] == sum(t["counts"].values())
        html = render_html(township.TEMPLATE, t)
        assert "nan" not in html.lower().replace("nanning", "")


def test_ranking_is_over_the_full_weight_set(county):
    weights = C.ranking_weights(Month.parse(MONTHS[-1]).end)
    total_w = sum(weights.values())
    for period in MONTHS:
        ctx = monthly.build_context(county, period)
        for r in ctx["ranked"]:
            expected = 100 * sum(w * (r[C.INDICATORS[k][0]] or 0.0) for k, w in weights.items()) / total_w
            assert r["score"] == pytest.approx(round(expected, 2))
            assert r["missing_count"] == sum(r[C.INDICATORS[k][0]] is None for k in weights)


def test_quarterly_equals_the_three_bulletins(county):
    ctx = quarterly.build_context(county, "2026-Q3")
    bulletins = [monthly.build_context(county, p)["total"] for p in MONTHS]
    for key in ("monitored", "pushed", "verified_on_time", "verified_late", "overdue", "pending", "red", "yellow",
                "blue", "households_quarantined", "problems_new"):
        assert ctx["county_series"][key] == [b[key] for b in bulletins], key
    for key in ("elimination_rate", "elimination_rate_persons"):
        assert ctx["county_series"][key] == pytest.approx([b[key] for b in bulletins])
    # per township, each month's row is that month's bulletin row
    rows = {r["township_code"]: r for r in ctx["rows"]}
    for i, period in enumerate(MONTHS):
        for r in monthly.build_context(county, period)["rows"]:
            assert rows[r["township_code"]]["red"][i] == r["red"]
            assert rows[r["township_code"]]["pushed"][i] == r["pushed"]
    html = render_html(quarterly.TEMPLATE, ctx)
    assert "nan" not in html.lower() and "全县" not in html


def test_area_word_follows_the_county_settings(county):
    from fangpin.config import Settings, county_settings

    assert Settings(county="紫阳县").area_word == "全县"
    assert Settings(county="兴宾区").area_word == "全区"
    assert Settings(county="某某", county_kind="区").area_word == "全区"
    with county_settings(county="紫阳县", issuing_office="紫阳县乡村振兴局"):
        ctx = monthly.build_context(county, MONTHS[-1])
        html = render_html(monthly.TEMPLATE, ctx)
    assert "全县" in html and "全区" not in html
    assert "全县 " in ctx["charts"]["elimination"]  # the chart's reference line
