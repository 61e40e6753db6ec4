"""The report sections of issue 15 reconcile: the bulletin's 疑点数据 section equals the audit's
stored results and the 疑点数据 entries of the problem lists; the 低保边缘 / 刚性支出型困难 figures
equal the stored screening results; the 抽查审核 paragraph equals review_summary; the quarterly
十三清 table's county row is the sum of its townships and each figure equals the stored rows.

A generated county (300 households) runs through ingest, the audit, screening, the draws and the
problems for 2026-08 and 2026-09 on one database (so 疑点数据 problems continue into a second
month), with one check planted by hand in each month so the section is never empty.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from fangpin import audit as A
from fangpin import pipeline
from fangpin.periods import Month
from fangpin.render import render_html
from fangpin.reports import monthly, quarterly, sections, township
from fangpin.store import db
from fangpin.store.db import read_feed

MONTHS = ("2026-08", "2026-09")


def _plant_doubt(data_dir) -> None:
    """Two households get a second 户主 (A10) in the delivered members file: a registry doubt
    the audit must find whatever the generator drew."""
    path = next(data_dir.glob("members.*"))
    if path.suffix == ".csv":
        raw = path.read_bytes()
        enc = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else ("utf-8" if _utf8(raw) else "gb18030")
        df = pd.read_csv(path, dtype=str, encoding=enc, keep_default_na=False)
    else:
        df = pd.read_excel(path, dtype=str).fillna("")
        enc = None
    rel = df["与户主关系"]
    hh = [h for h, g in df.groupby("户编号") if (g["与户主关系"] == "户主").sum() == 1 and (g["与户主关系"] != "户主").any()
          and g["与户主关系"].isin(("户主", "配偶", "之子", "之女")).all()][:2]
    assert len(hh) == 2 and len(rel)
    for h in hh:
        idx = df.index[(df["户编号"] == h) & (df["与户主关系"] != "户主")][0]
        df.loc[idx, "与户主关系"] = "户主"
    if enc:
        df.to_csv(path, index=False, encoding=enc)
    else:
        df.to_excel(path, index=False)


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    from fangpin.generate import generate_county

    root = tmp_path_factory.mktemp("sections")
    eng = db.engine(f"sqlite:///{root / 'fangpin.db'}")
    for period in MONTHS:
        data, out = root / "incoming" / period, root / "output" / period
        generate_county(data, period, households=300, seed=7)
        _plant_doubt(data)
        pipeline.ingest(data, period, out_dir=out, eng=eng, build_docs=False)
        pipeline.audit_period(period, str(out), eng=eng)
        pipeline.screen_period(period, str(out), eng=eng)
        pipeline.sample_period(period, str(out), eng=eng)
        pipeline.review_period(period, str(out), eng=eng)
        pipeline.derive_problems(period, eng=eng)
    return eng


@pytest.mark.parametrize("period", MONTHS)
def test_audit_section_equals_the_audit_and_the_lists(county, period):
    ctx = monthly.build_context(county, period)
    a = ctx["audit"]
    assert a["ran"]
    stored = A.read_audit(county, period)
    flagged = stored.flagged
    assert len(flagged) >= 2  # the planted A10 doubts at least
    # per township: flagged households = stored audit rows; county row = sum of townships
    by_town = flagged.groupby("township_code").size()
    for r in a["rows"]:
        assert r["flagged"] == int(by_town.get(r["township_code"], 0))
    for key in ("flagged", "listed", "new", "continued", "earlier"):
        assert a["total"][key] == sum(r[key] for r in a["rows"]), key
    # per check: the stored outcome of each check, and per township the households naming it
    runs = stored.checks.set_index("code")
    assert [c["code"] for c in a["checks"]] == sorted(A.CHECKS)
    for i, c in enumerate(a["checks"]):
        assert c["name"] == A.CHECKS[c["code"]].name
        assert c["status"] == runs.at[c["code"], "status"]
        if c["status"] == "已核查":
            assert c["flagged"] == int(runs.at[c["code"], "flagged"])
            for r in a["rows"]:
                n = flagged[(flagged["township_code"] == r["township_code"])
                            & flagged["checks"].str.split(";").map(lambda cs: c["code"] in cs)]
                assert r["by_check"][i] == len(n)
        else:  # skipped: no figure, named with its reason
            assert c["flagged"] is None and all(r["by_check"][i] is None for r in a["rows"])
            assert c in a["skipped"] and c["note"]
    assert a["total"]["by_check"][sorted(A.CHECKS).index("A10")] >= 1
    # the problem lists: every flagged household is on its township's list exactly once, open
    listed = [p for sec in ctx["problem_sections"] for p in sec["rows"] if p["problem_type"] == "疑点数据"]
    assert a["total"]["listed"] == len(listed)
    for r in a["rows"]:
        mine = [p for p in listed if p["township_code"] == r["township_code"]]
        assert r["listed"] == len(mine)
        assert r["flagged"] == r["new"] + r["continued"]
        assert r["listed"] == r["new"] + r["continued"] + r["earlier"]
    # township lists (the PDFs townships get) carry the same entries, with the explanation
    for sec in ctx["problem_sections"]:
        t = township.build_context(county, period, sec["code"])
        doubt = [p for p in t["rows"] if p["problem_type"] == "疑点数据"]
        row = next(r for r in a["rows"] if r["township_code"] == sec["code"])
        assert len(doubt) == row["listed"]
        for p in doubt:
            assert p["detail"].startswith("疑点数据：") and re.search(r"\bA\d{2}\b", p["detail"])
        if doubt:
            codes = {n["code"] for n in t["audit_notes"]}
            assert codes == set(re.findall(r"\bA\d{2}\b", "".join(p["detail"] for p in doubt)))
            assert all(n["guidance"] for n in t["audit_notes"])
    # the letter quotes the section's totals
    text = "".join(ctx["letter"])
    assert f"发现疑点户{a['total']['flagged']:,}户" in text
    assert f"“疑点数据”问题{a['total']['listed']:,}个，其中本月新发现{a['total']['new']:,}个" in text


def test_doubts_found_again_continue_their_problem(county):
    """The second month: a household flagged in both months is counted as continued, not new."""
    first = set(A.read_audit(county, MONTHS[0]).flagged["household_id"])
    second = A.read_audit(county, MONTHS[1]).flagged
    again = second[second["household_id"].isin(first)]
    a = monthly.build_context(county, MONTHS[1])["audit"]
    assert len(again) > 0
    assert a["total"]["continued"] == len(again)
    assert a["total"]["new"] == len(second) - len(again)


@pytest.mark.parametrize("period", MONTHS)
def test_policy_flags_and_review_equal_the_stored_rows(county, period):
    from fangpin.reports import common as C
    from fangpin.review import review_summary

    ctx = monthly.build_context(county, period)
    sr = C.screening(county, Month.parse(period))
    f = ctx["policy_flags"]
    edge = sr["dibao_edge"].fillna(False).astype(bool)
    rigid = sr["rigid_expense"].fillna(False).astype(bool)
    assert f["total"]["dibao_edge"] == int(edge.sum())
    assert f["total"]["rigid_expense"] == int(rigid.sum())
    assert f["total"]["dibao_edge_unmonitored"] == int((edge & ~sr["already_monitored"]).sum())
    for key in f["total"]:
        assert f["total"][key] == sum(r[key] for r in f["rows"])
    assert f["total"]["dibao_edge"] > 0  # the generated county exercises the figure
    # the review as known on the bulletin date: this month's draw, and the previous month's with
    # the results arrived since
    from fangpin.problems import bulletin_date

    issued = bulletin_date(period)
    s = review_summary(county, period, known_by=issued)
    r = ctx["review"]
    for key in ("households", "drawn", "reviewed", "accurate", "inaccurate", "pending"):
        assert r["total"][key] == int(s[key].sum())
    before = review_summary(county, Month.parse(period).shift(-1), known_by=issued)
    if r["previous"] is None:
        assert int(before["drawn"].sum()) == 0
    else:
        for key in ("drawn", "reviewed", "accurate", "inaccurate", "pending"):
            assert r["previous"]["total"][key] == int(before[key].sum())
    html = render_html(monthly.TEMPLATE, ctx)
    assert "七、疑点数据核查" in html and "八、低保边缘、刚性支出型困难与抽查审核" in html
    assert f"低保边缘户{f['total']['dibao_edge']:,}户" in html
    assert "nan" not in html.lower()


def test_monitored_term_follows_the_dated_parameter(county):
    import datetime as dt

    from fangpin.params import param

    ctx = monthly.build_context(county, MONTHS[-1])
    assert ctx["term"] == "防止返贫致贫对象"  # a 2026 period
    assert "（防止返贫致贫对象）" in ctx["letter"][1]
    assert param("terms.monitored_object", dt.date(2025, 12, 31)) == "监测对象"
    letter = monthly.letter("兴宾区", "2025年12月", ctx["total"], ctx["visit"], 3, "全区", "监测对象")
    assert "（监测对象）" in letter[1]


def test_thirteen_clear_county_row_is_the_sum_and_equals_the_feeds(county):
    ctx = quarterly.build_context(county, "2026-Q3")
    t = ctx["thirteen"]
    assert t["month"] == MONTHS[-1]
    assert [c["label"] for c in t["columns"]][:4] == ["务工人数", "公益性岗位", "住房安全（C/D级危房户）", "饮水安全"]
    assert len(t["columns"]) == 13
    water = next(c for c in t["columns"] if c["key"] == "water")
    assert water["feed"] is None and water in t["not_provided"]
    for c in t["columns"]:
        if c["delivered"]:
            assert t["total"][c["key"]] == sum(r[c["key"]] for r in t["rows"]), c["key"]
        else:
            assert t["total"][c["key"]] is None and all(r[c["key"]] is None for r in t["rows"])
    # independent recount from the stored rows
    p = MONTHS[-1]
    hh = read_feed(county, "households", p)
    mem = read_feed(county, "members", p)
    town_of = mem.set_index("id_number")["household_id"].map(hh.set_index("household_id")["township_code"]).dropna()
    assert t["total"]["monitored"] == int((hh["category"] == "监测户").sum())
    assert t["total"]["lifted"] == int((hh["category"] == "脱贫户").sum())
    assert t["total"]["eliminated"] == int(((hh["category"] == "监测户") & (hh["risk_eliminated"] == "是")).sum())
    edu = read_feed(county, "education", p)
    assert t["total"]["in_school"] == edu[(edu["status"] == "在读") & edu["id_number"].isin(town_of.index)][
        "id_number"].nunique()
    health = read_feed(county, "health", p)
    chronic = health[(health["disease_class"] == "慢性病") & health["id_number"].isin(town_of.index)]
    by_town = chronic.drop_duplicates("id_number")["id_number"].map(town_of).value_counts()
    for r in t["rows"]:
        assert r["chronic"] == int(by_town.get(r["township_code"], 0))
    from fangpin import employment
    e = employment.township_counts_db(county, p)
    assert t["total"]["working"] == int(e["working"].sum()) and t["total"]["working"] > 0
    assert t["total"]["public_welfare"] == int(e["public_welfare"].sum())
    # the 监测户 column equals the bulletin's monitored figures
    mrows = {r["township_code"]: r for r in monthly.build_context(county, p)["rows"]}
    for r in t["rows"]:
        assert r["monitored"] == mrows[r["township_code"]]["monitored"]
        assert r["eliminated"] == mrows[r["township_code"]]["eliminated_total"]
    html = render_html(quarterly.TEMPLATE, ctx)
    assert "六、十三清" in html and "未提供" in html and "人社（employment）" in html
    assert "nan" not in html.lower()


def test_rendered_pdfs_have_the_sections_and_no_personal_numbers(county, tmp_path):
    from fangpin import reports
    from tests.test_reports import assert_no_personal_numbers, pdf_text

    pdf = reports.build_report("monthly", MONTHS[-1], tmp_path, eng=county)
    text = pdf_text(pdf)
    assert "疑点数据核查" in text and "抽查审核" in text and "低保边缘" in text
    assert_no_personal_numbers(text)
    q = reports.build_report("quarterly", "2026-Q3", tmp_path, eng=county)
    qt = pdf_text(q)
    assert "十三清" in qt and "务工人数" in qt
    assert_no_personal_numbers(qt)
    code = next(r["township_code"] for r in monthly.build_context(county, MONTHS[-1])["audit"]["rows"]
                if r["listed"])
    tl = reports.build_township_problems(MONTHS[-1], code, tmp_path, eng=county)
    tt = pdf_text(tl)
    assert "疑点数据" in tt and "问题说明" in tt
    assert_no_personal_numbers(tt)


def test_sections_on_the_hand_made_county_sqlite_and_postgresql(db_url):
    """The sections' queries on both databases (the hand-made county of test_reports): before the
    audit ran the section says so (未运行, no figures); after it, the figures are the stored rows;
    十三清's county row is the sum of the townships and its 监测户 the bulletin's."""
    from fangpin.reports import common as C
    from tests.test_reports import populate

    eng = db.engine(db_url)
    populate(eng)
    m = Month.parse("2026-10")
    towns = C.townships(eng, m, C.households(eng, m))
    pl = C.problem_list(eng, m)
    before = sections.audit_section(eng, m, towns, pl)
    assert not before["ran"] and {c["status"] for c in before["checks"]} == {"未运行"}
    assert before["total"]["flagged"] == 0 and before["total"]["by_check"] == [None] * len(A.CHECKS)
    result = A.audit(A.load_frames(eng, "2026-10"), "2026-10")
    A.store_audit(eng, result)
    after = sections.audit_section(eng, m, towns, pl)
    assert after["ran"] and after["total"]["flagged"] == len(result.flagged)
    assert [c["status"] for c in after["checks"]] == list(result.checks.sort_values("code")["status"])
    t = sections.thirteen_clear(eng, m, towns)
    mf = C.month_figures(eng, m)
    assert t["total"]["monitored"] == mf["total"]["monitored"] > 0
    for c in t["columns"]:
        if c["delivered"]:
            assert t["total"][c["key"]] == sum(r[c["key"]] for r in t["rows"])
    assert {c["key"] for c in t["not_delivered"]} >= {"working", "public_welfare"}  # no 人社 feed there


def test_review_paragraph_with_a_draw_and_results(sqlite_url, tmp_path):
    """The hand-made county has new 拟纳入 / 拟消除 decisions in October: the draw and one result
    per decision type make the 抽查审核 figures, which the letter and the table quote."""
    from fangpin.review import draw_date, run_review_draw
    from tests.test_reports import populate

    eng = db.engine(sqlite_url)
    populate(eng)
    drawn = run_review_draw(eng, "2026-10", tmp_path)
    assert len(drawn) >= 2 and set(drawn["decision"]) == {"拟纳入", "拟消除"}
    day = pd.Timestamp(draw_date("2026-10"))
    first = drawn.sort_values(["decision", "position"]).groupby("decision").head(1)
    results = pd.DataFrame({"household_id": first["household_id"].to_numpy(), "review_date": day,
                            "conclusion": ["认定准确", "认定不准确"][:len(first)], "note": None,
                            "source_row": range(2, 2 + len(first))})
    with eng.begin() as conn:
        db.replace_period(conn, "review_results", "2026-11", results)
    # October's bulletin (6 November) is issued the day the draw is made: every drawn household
    # pending; the results come with November's delivery (6 December), not known then
    ctx = monthly.build_context(eng, "2026-10")
    r = ctx["review"]
    assert r["drawn_any"] and r["total"]["drawn"] == len(drawn)
    assert (r["total"]["reviewed"], r["total"]["pending"]) == (0, len(drawn))
    assert r["total"]["households"] == sum(row["households"] for row in r["rows"])
    assert abs(r["total"]["share"] - len(drawn) / r["total"]["households"]) < 1e-9
    assert f"抽取{len(drawn):,}户开展县级审核" in "".join(ctx["letter"])
    # November's bulletin reports October's draw with the results arrived since
    ctx = monthly.build_context(eng, "2026-11")
    p = ctx["review"]["previous"]
    assert p["label"] == "2026年10月" and p["total"]["drawn"] == len(drawn)
    assert p["total"]["reviewed"] == 2 and p["total"]["accurate"] == 1 and p["total"]["inaccurate"] == 1
    assert p["total"]["pending"] == len(drawn) - 2
    letter = "".join(ctx["letter"])
    assert f"2026年10月抽取的{len(drawn):,}户已审核2户，认定不准确1户" in letter
    html = render_html(monthly.TEMPLATE, ctx)
    assert f"2026年10月抽取审核的{len(drawn):,}户，截至本通报日已审核2户" in html
    r = ctx["review"]
    assert "（二）抽查审核" in html and f"待审核{r['total']['pending']:,}户" in html
