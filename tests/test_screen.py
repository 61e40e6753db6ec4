"""Screening on the database: load_frames, stored results (新增/持续, re-runs), screening.csv,
township push lists, and the end-to-end check against the generator's answer key."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from sqlalchemy import func, select

from fangpin import screen
from fangpin.ids import ID_PATTERN, PHONE_PATTERN
from fangpin.store import db
from fangpin.store.models import ScreeningResult
from rulecase import build_frames, load_period

CONTRACT_HEADERS = ["户编号", "乡镇代码", "村代码", "命中规则", "风险等级", "是否已纳入监测", "说明"]
T1, T2 = "451302101", "451302102"


def county(*suspected: str, extra: tuple = ()) -> dict:
    """A small county: households A, B, C, D in two townships; those named in `suspected` are
    given an income below T (R01); D is a 监测户 with a C-grade house (R10) when suspected."""
    spec = {"A": {"village": f"{T1}001"}, "B": {"village": f"{T1}002"}, "C": {"village": f"{T2}001"},
            "D": {"village": f"{T2}001", "category": "监测户", "risk_eliminated": "否"}}
    households = []
    for hid, h in spec.items():
        h = {"id": hid, "phone": None, **h}
        if hid in suspected:
            h["income"] = 5000
            if hid == "D":
                h["housing"] = [{"grade": "C", "date": "2026-01-10"}]
        households.append(h)
    households += list(extra)
    frames = build_frames({"households": households})
    frames["households"]["phone"] = [f"1390000{i:04d}" for i in range(len(frames["households"]))]
    return frames


def stored_count(eng, period: str) -> int:
    t = ScreeningResult.__table__
    with eng.connect() as c:
        return c.execute(select(func.count()).select_from(t).where(t.c.period == period)).scalar_one()


def run(eng, period: str, frames: dict) -> pd.DataFrame:
    load_period(eng, period, frames)
    return screen.store_screening(eng, period, screen.screen(screen.load_frames(eng, period), period, "广西"))


# ---- from the database ----------------------------------------------------------------------

def test_load_frames_round_trip_gives_the_same_screening(db_url):
    eng = db.engine(db_url)
    frames = build_frames({"households": [
        {"id": "X1", "category": "脱贫户", "medical": [{"discharge": "2026-10-31", "oop": 5000}],
         "members": ["普通劳动力", "丧失劳动力", "丧失劳动力", "无劳动力", "无劳动力"],
         "housing": [{"grade": "D", "date": "2026-04-01"}, {"grade": "A", "date": "2026-11-02"}]},
        {"id": "X2", "income": 8000, "medical": [{"discharge": "2026-05-01", "oop": 3000.01}],
         "disability": [{"type": "智力", "grade": "三级", "issued": "2026-10-31"}]},
        {"id": "X3"}]})
    load_period(eng, "2026-10", frames)
    loaded = screen.load_frames(eng, "2026-10")
    assert set(loaded) == set(screen.SCREEN_FEEDS)
    assert str(loaded["medical"]["discharge_date"].dtype).startswith("datetime64")
    from_db = screen.screen(loaded, "2026-10", "广西")
    direct = screen.screen(frames, "2026-10", "广西")
    pd.testing.assert_frame_equal(from_db, direct)
    assert from_db.set_index("household_id")["rules"].to_dict() == {"X1": "R05;R07;R10", "X2": "R03;R09"}


def test_members_of_rejected_households_do_not_count():
    """Only accepted members of accepted households make up a household's size."""
    frames = build_frames({"household": {"members": ["普通劳动力", "无劳动力", "无劳动力", "无劳动力", "无劳动力"]}})
    assert screen.screen(frames, "2026-10", "广西")["rules"].tolist() == ["R07"]
    # One member's row was quarantined: size 4, no longer R07.
    frames["members"] = frames["members"].iloc[:4]
    assert screen.screen(frames, "2026-10", "广西").empty
    # A member of a household that is not among the accepted households is ignored.
    stray = frames["members"].iloc[[1]].assign(household_id="GONE", id_number="45130219900101002X")
    frames["members"] = pd.concat([frames["members"], stray], ignore_index=True)
    assert screen.screen(frames, "2026-10", "广西").empty


def test_missing_feeds_screen_as_empty():
    frames = build_frames({"household": {"income": 6500}})
    only_core = {k: frames[k] for k in ("households", "members")}
    out = screen.screen(only_core, "2026-10", "广西")
    assert out["rules"].tolist() == ["R01"]
    assert list(out.columns) == screen.OUTPUT_COLUMNS


def test_nothing_suspected_gives_empty_frame_with_columns(tmp_path):
    out = screen.screen(build_frames({"household": {}}), "2026-10", "广西")
    assert out.empty and list(out.columns) == screen.OUTPUT_COLUMNS
    path = screen.write_screening_csv(out, tmp_path)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 1 and lines[0].split(",")[:7] == CONTRACT_HEADERS


# ---- stored results ---------------------------------------------------------------------------

def test_new_and_continuing_across_periods_and_rerun_replaces(db_url):
    eng = db.engine(db_url)
    sep = run(eng, "2026-09", county("A", "B"))
    assert set(sep["status"]) == {screen.NEW} and set(sep["first_seen"]) == {"2026-09"}

    octo = run(eng, "2026-10", county("B", "C")).set_index("household_id")
    assert octo.loc["B", "status"] == screen.CONTINUING and octo.loc["B", "first_seen"] == "2026-09"
    assert octo.loc["C", "status"] == screen.NEW and octo.loc["C", "first_seen"] == "2026-10"
    assert "A" not in octo.index

    # Re-screening October with a corrected delivery replaces October only.
    again = run(eng, "2026-10", county("C", "D")).set_index("household_id")
    assert sorted(again.index) == ["C", "D"] and stored_count(eng, "2026-10") == 2
    assert stored_count(eng, "2026-09") == 2
    assert again.loc["D", "already_monitored"] and again.loc["D", "rules"] == "R01;R10"
    stored = screen.read_screening(eng, "2026-10").set_index("household_id")
    assert stored.loc["D", "risk_level"] == "高" and bool(stored.loc["D", "already_monitored"])
    assert stored.loc["C", "explanation"] == "R01 人均纯收入 5,000 元 < 监测范围 7,000 元"

    # Running it once more with the same data changes nothing.
    run(eng, "2026-10", county("C", "D"))
    pd.testing.assert_frame_equal(screen.read_screening(eng, "2026-10"), stored.reset_index()[
        screen.read_screening(eng, "2026-10").columns])

    # A household suspected again after a gap is 新增, with its earliest period as first seen.
    nov = run(eng, "2026-11", county("A", "D")).set_index("household_id")
    assert nov.loc["A", "status"] == screen.NEW and nov.loc["A", "first_seen"] == "2026-09"
    assert nov.loc["D", "status"] == screen.CONTINUING and nov.loc["D", "first_seen"] == "2026-10"


def test_push_and_verification_dates(db_url):
    eng = db.engine(db_url)
    out = run(eng, "2026-10", county("A"))
    # by default the scheduled ingest day (the 6th of the next month), 15 days to verify
    assert out["pushed_on"].iloc[0] == pd.Timestamp("2026-11-06")
    assert out["verify_by"].iloc[0] == pd.Timestamp("2026-11-21")
    assert screen.push_dates("2026-12") == (dt.date(2027, 1, 6), dt.date(2027, 1, 21))
    # the day actually sent (a late ingest run) moves the deadline with it
    assert screen.push_dates("2026-12", pushed_on=dt.date(2027, 1, 9)) == (dt.date(2027, 1, 9), dt.date(2027, 1, 24))


def test_screening_csv_contract(tmp_path, sqlite_url):
    eng = db.engine(sqlite_url)
    extra = {"id": "E", "village": f"{T2}002", "category": "脱贫户", "income": 6900,
             "medical": [{"discharge": "2026-08-08", "oop": 6320}]}
    stored = run(eng, "2026-10", county("A", "D", extra=(extra,)))
    path = screen.write_screening_csv(stored, tmp_path / "out")
    raw = path.read_bytes()
    assert path.name == "screening.csv" and raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert list(df.columns[:7]) == CONTRACT_HEADERS
    rows = df.set_index("户编号")
    assert rows.loc["E", "命中规则"] == "R01;R05" and rows.loc["E", "风险等级"] == "高"
    assert rows.loc["E", "说明"] == "R01 人均纯收入 6,900 元 < 监测范围 7,000 元；R05 住院自付 6,320 元 ≥ 5,000 元（脱贫户）"
    assert rows.loc["D", "是否已纳入监测"] == "是" and rows.loc["E", "是否已纳入监测"] == "否"
    assert rows.loc["E", "乡镇代码"] == T2 and rows.loc["E", "村代码"] == f"{T2}002"
    assert all(re.fullmatch(r"\d{9}", c) for c in df["乡镇代码"]) and all(re.fullmatch(r"\d{12}", c) for c in df["村代码"])
    assert set(df["疑似状态"]) == {"新增疑似"}
    text = raw.decode("utf-8-sig")
    assert not ID_PATTERN.search(text) and not PHONE_PATTERN.search(text)


# ---- push lists ------------------------------------------------------------------------------

def test_push_lists_per_township(tmp_path, sqlite_url):
    from openpyxl import load_workbook

    from fangpin.pushlists import HEADER_ROW, HEADERS, RISK_FILL, write_push_lists

    eng = db.engine(sqlite_url)
    run(eng, "2026-09", county("C"))
    run(eng, "2026-10", county("A", "C", "D"))
    out = tmp_path / "out"
    (out / "push_lists").mkdir(parents=True)
    (out / "push_lists" / "451302999_旧镇.xlsx").write_bytes(b"stale")
    paths = write_push_lists(eng, "2026-10", out)
    assert [p.name for p in paths] == [f"{T1}_101镇.xlsx", f"{T2}_102镇.xlsx"]
    assert sorted(p.name for p in (out / "push_lists").iterdir()) == [p.name for p in paths]

    ws = load_workbook(paths[1]).active
    assert "102镇" in ws["A1"].value and "疑似返贫致贫风险户推送清单" in ws["A1"].value
    headers = [c.value for c in ws[HEADER_ROW]]
    assert headers == HEADERS
    for h in ("村", "户编号", "户主姓名", "农户类别", "风险等级", "命中规则", "原因说明", "疑似状态", "核实截止日期",
              "核实结论", "核实日期"):
        assert h in headers
    assert ws.freeze_panes == f"A{HEADER_ROW + 1}" and ws.auto_filter.ref.startswith(f"A{HEADER_ROW}")
    assert ws.column_dimensions["I"].width >= 40
    rows = [dict(zip(headers, [c.value for c in r])) for r in ws.iter_rows(min_row=HEADER_ROW + 1)]
    by_id = {r["户编号"]: r for r in rows}
    # D is already monitored (监测户, risk not eliminated): its assistance officer follows it, not pushed
    assert set(by_id) == {"C"}
    assert rows[0]["风险等级"] == "高"
    # cell formats a township clerk relies on: IDs stay text, dates show as dates, reasons wrap,
    # the risk level is coloured, every data cell has a border
    first = ws[HEADER_ROW + 1]
    col = {h: i for i, h in enumerate(headers)}
    assert first[col["户编号"]].number_format == "@"
    assert first[col["核实截止日期"]].number_format == "yyyy-mm-dd"
    assert first[col["原因说明"]].alignment.wrap_text and not first[col["户主姓名"]].alignment.wrap_text
    assert first[col["风险等级"]].fill.fgColor.rgb.endswith(RISK_FILL["高"])
    assert all(c.border.left.style == "thin" for c in first)
    assert by_id["C"]["疑似状态"] == "持续疑似"
    assert by_id["C"]["户主姓名"] == "户主3" and by_id["C"]["村"] == "001村"
    assert by_id["C"]["核实截止日期"].date() == dt.date(2026, 11, 21)
    assert "推送日期：2026-11-06" in ws["A2"].value and "2026-11-21 前" in ws["A2"].value
    assert by_id["C"]["是否已纳入监测"] == "否"
    assert by_id["C"]["核实结论"] is None and by_id["C"]["核实日期"] is None
    # No ID numbers, no phone numbers anywhere in the workbooks.
    for p in paths:
        for r in load_workbook(p).active.iter_rows(values_only=True):
            for v in r:
                assert not (isinstance(v, str) and (ID_PATTERN.search(v) or PHONE_PATTERN.search(v))), v

    # One township only (what a mapped Airflow task asks for) leaves the others alone.
    only = write_push_lists(eng, "2026-10", out, townships=[T2])
    assert [p.name for p in only] == [f"{T2}_102镇.xlsx"] and paths[0].exists()


# ---- end to end: the generator's answer key ----------------------------------------------------

def test_small_county_matches_answer_key(small_county, sqlite_url):
    """100% precision and recall against out/answer_key/expected_screening.csv."""
    from conftest import SMALL_PERIOD

    from fangpin.pipeline import ingest

    eng = db.engine(sqlite_url)
    ingest(small_county, SMALL_PERIOD, out_dir=None, eng=eng)
    got = screen.screen(screen.load_frames(eng, SMALL_PERIOD), SMALL_PERIOD)
    key = pd.read_csv(small_county / "answer_key" / "expected_screening.csv", encoding="utf-8-sig", dtype=str)
    expected = key.set_index("户编号")
    actual = got.set_index("household_id")
    missed = sorted(set(expected.index) - set(actual.index))
    extra = sorted(set(actual.index) - set(expected.index))
    assert not missed and not extra, f"missed {missed[:10]}, extra {extra[:10]}"
    both = expected.join(actual)
    wrong_rules = both[both["命中规则"] != both["rules"]]
    assert wrong_rules.empty, wrong_rules[["命中规则", "rules", "explanation"]].head(10).to_string()
    wrong_level = both[both["风险等级"] != both["risk_level"]]
    assert wrong_level.empty, wrong_level[["风险等级", "risk_level", "rules"]].head(10).to_string()
