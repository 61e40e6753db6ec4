"""Problem derivation: 应纳未纳, 纳而不扶, 消除不规范, 核实超期, 电话抽查不符; stable numbers,
deadlines, rectifications and blue/yellow/red escalation over three bulletins."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from fangpin import problems as P
from fangpin import screen
from fangpin.store import db
from fangpin.store.models import Problem, SpotCheckDraw
from rulecase import build_frames, feedback, load_period

SEP, OCT, NOV, DEC = "2026-09", "2026-10", "2026-11", "2026-12"
LOW_INCOME = {"income": 5000}                        # R01: high risk
BAD_HOUSE = {"housing": [{"grade": "C", "date": "2026-02-01"}]}  # R10 alone: medium risk
MONITORED = {"category": "监测户", "risk_eliminated": "否", "monitor_type": "边缘易致贫户",
             "identified_month": "2025-06", "measures": 2}


def households(**changes) -> dict:
    """The county of these tests; `changes` override single households by id."""
    spec = {
        "V1": LOW_INCOME, "V2": LOW_INCOME, "V3": LOW_INCOME,       # high risk, not monitored
        "V4": BAD_HOUSE, "V5": BAD_HOUSE, "V6": BAD_HOUSE,          # medium risk
        "V7": {**MONITORED, **LOW_INCOME},                          # high risk but already monitored
        "M1": {**MONITORED, "measures": 0},                         # 纳而不扶
        "M2": MONITORED,
        "E1": {**MONITORED, "risk_eliminated": "是", "identified_month": "2026-03", "eliminated_month": "2026-08"},
        "E2": {**MONITORED, "risk_eliminated": "是", "identified_month": "2026-02", "eliminated_month": "2026-08"},
        "E3": {**MONITORED, "risk_eliminated": "是", "identified_month": "2025-01", "eliminated_month": "2026-05",
               "income": 6999.99},
        "E4": {**MONITORED, "risk_eliminated": "是", "identified_month": "2024-01", "eliminated_month": "2025-06",
               "income": 6500},
        "Z9": {},
    }
    spec.update(changes)
    hs = [{"id": hid, "village": "451302101001" if i % 2 else "451302102001", **h}
          for i, (hid, h) in enumerate(spec.items())]
    return build_frames({"households": hs})


def verifications(*rows) -> pd.DataFrame:
    return feedback("verifications", [{"household_id": h, "verify_date": d, "conclusion": c} for h, d, c in rows])


def rectifications(*rows) -> pd.DataFrame:
    return feedback("rectifications", [{"problem_id": i, "rectify_date": d, "description": t} for i, d, t in rows])


@pytest.fixture
def eng(db_url):
    eng = db.engine(db_url)
    sep = households()
    load_period(eng, SEP, sep, verifications=verifications(("V3", "2026-09-20", "排除")))
    screen.store_screening(eng, SEP, screen.screen(sep, SEP, "广西"))
    load_period(eng, OCT, households(), verifications=verifications(
        ("V1", "2026-10-21", "纳入监测"),   # the last day in time (pushed 10-06, 15 days)
        ("V2", "2026-10-22", "纳入监测"),   # one day late
        ("V4", "2026-10-25", "持续关注"),   # late
        ("V6", "2026-10-10", "排除"),
        ("V6", "2026-10-30", "排除"),       # a second, later visit does not make it late
    ))
    return eng


def by_household(frame: pd.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for h, t in zip(frame["household_id"], frame["problem_type"]):
        out.setdefault(h, []).append(t)
    return {h: sorted(v) for h, v in out.items()}


def test_derivation_of_each_problem_type(eng):
    got = P.derive_problems(eng, OCT)
    assert by_household(got) == {
        "V2": ["应纳未纳", "核实超期"],   # high risk, verified a day late
        "V3": ["应纳未纳"],              # high risk, never verified after the push (a visit before it does not count)
        "V4": ["核实超期"],              # medium risk, verified late
        "V5": ["核实超期"],              # medium risk, never verified
        "M1": ["纳而不扶"],
        "E1": ["消除不规范"],            # 5 months after identification
        "E3": ["应纳未纳", "消除不规范"],  # income below T: eliminated with too little income, and
        "E4": ["应纳未纳"],              # (like E4) an R01 household pushed in September, not monitored, not verified
    }
    rows = got.set_index(["household_id", "problem_type"])
    assert rows.loc[("V2", "核实超期"), "detail"] == (
        "疑似风险户于2026-10-06推送（2026年9月比对），应于2026-10-21前核实，实际2026-10-22核实，超期1天")
    assert rows.loc[("V2", "核实超期"), "found_on"] == dt.date(2026, 10, 22)
    assert rows.loc[("V3", "应纳未纳"), "found_on"] == dt.date(2026, 10, 22)
    assert "命中R01" in rows.loc[("V3", "应纳未纳"), "detail"] and "未反馈核实结论" in rows.loc[("V3", "应纳未纳"), "detail"]
    assert rows.loc[("M1", "纳而不扶"), "detail"] == "监测户（边缘易致贫户，2025-06识别）风险未消除，帮扶措施数为0"
    assert "仅间隔5个月（不足6个月）" in rows.loc[("E1", "消除不规范"), "detail"]
    assert "人均纯收入6,999.99元低于监测范围7,000元" in rows.loc[("E3", "消除不规范"), "detail"]
    assert set(got["found_on"]) <= {dt.date(2026, 10, d) for d in range(1, 32)}
    # deadline: bulletin date (6 November) + 3 days
    assert set(got["deadline"]) == {dt.date(2026, 11, 9)} and P.bulletin_date(OCT) == dt.date(2026, 11, 6)
    assert set(got["township_code"]) == {"451302101", "451302102"}
    assert all(re.fullmatch(r"[A-Z]{4}-\d{6}-[0-9A-F]{8}", i) for i in got["problem_id"])
    # colours at the bulletin: 应纳未纳 is always red, the other new problems blue
    colours = got.groupby("problem_type")["colour"].agg(set).to_dict()
    assert colours == {"应纳未纳": {"红单"}, "核实超期": {"蓝单"}, "纳而不扶": {"蓝单"}, "消除不规范": {"蓝单"}}
    assert set(got["status"]) == {"未整改"} and got["is_new"].all()


def test_rerun_is_stable_and_replaces(eng):
    first = P.derive_problems(eng, OCT).set_index(["household_id", "problem_type"])["problem_id"]
    again = P.derive_problems(eng, OCT).set_index(["household_id", "problem_type"])["problem_id"]
    assert first.to_dict() == again.to_dict()
    with eng.connect() as c:
        assert c.execute(select(func.count()).select_from(Problem)).scalar_one() == len(first)
    # A corrected delivery: M1 now has measures; re-deriving drops its problem, keeps the others' numbers.
    load_period(eng, OCT, households(M1={**MONITORED, "measures": 1}),
                verifications=verifications(("V1", "2026-10-21", "纳入监测"), ("V2", "2026-10-22", "纳入监测"),
                                            ("V4", "2026-10-25", "持续关注"), ("V6", "2026-10-10", "排除")))
    third = P.derive_problems(eng, OCT).set_index(["household_id", "problem_type"])["problem_id"]
    assert ("M1", "纳而不扶") not in third.index
    assert third.to_dict() == {k: v for k, v in first.items() if k != ("M1", "纳而不扶")}


def test_escalation_across_bulletins(eng):
    octo = P.derive_problems(eng, OCT).set_index(["household_id", "problem_type"])
    ids = octo["problem_id"]

    # Later in the month, past the deadline, the unrectified new problems turn yellow.
    late = P.problem_list(eng, OCT, as_of=dt.date(2026, 11, 10)).set_index(["household_id", "problem_type"])
    assert late.loc[("M1", "纳而不扶"), "colour"] == "黄单" and late.loc[("M1", "纳而不扶"), "status"] == "逾期未整改"
    assert late.loc[("V3", "应纳未纳"), "colour"] == "红单"

    # November: V2's 应纳未纳 and E1 are rectified, one rectification names an unknown number.
    load_period(eng, NOV, households(), rectifications=rectifications(
        (ids[("V2", "应纳未纳")], "2026-11-08", "已入户核实并纳入监测"),
        (ids[("E1", "消除不规范")].lower(), "2026-11-07", "已恢复监测"),   # typed in lower case
        ("XCBG-202610-DEADBEEF", "2026-11-08", "不存在的编号")))
    unknown = P.unknown_rectifications(eng, NOV)
    assert unknown["problem_id"].tolist() == ["XCBG-202610-DEADBEEF"] and "问题编号不存在" in unknown["reason"][0]
    nov = P.derive_problems(eng, NOV).set_index(["household_id", "problem_type"])
    # still open from October: red, same number, original found date and period
    assert nov.loc[("M1", "纳而不扶"), "colour"] == "红单"
    assert nov.loc[("M1", "纳而不扶"), "problem_id"] == ids[("M1", "纳而不扶")]
    assert nov.loc[("M1", "纳而不扶"), "period"] == OCT and nov.loc[("M1", "纳而不扶"), "found_on"] == dt.date(2026, 10, 31)
    assert not nov.loc[("M1", "纳而不扶"), "is_new"]
    # rectified: listed as 已整改 without colour, and not raised again although the data still show it
    assert nov.loc[("V2", "应纳未纳"), "status"] == "已整改" and nov.loc[("V2", "应纳未纳"), "colour"] == ""
    assert nov.loc[("E1", "消除不规范"), "status"] == "已整改"
    assert nov.loc[("E1", "消除不规范"), "problem_id"] == ids[("E1", "消除不规范")]
    with eng.connect() as c:
        row = c.execute(select(Problem).where(Problem.problem_id == ids[("V2", "应纳未纳")])).one()._mapping
    assert row["closed_on"] == dt.date(2026, 11, 8) and row["closing_note"] == "已入户核实并纳入监测"
    assert len(nov) == len(octo)  # no duplicates, nothing new in November

    # December: M1 is rectified, but the registry still shows no measures: a new problem, new number.
    load_period(eng, DEC, households(), rectifications=rectifications(
        (ids[("M1", "纳而不扶")], "2026-12-02", "已落实帮扶措施")))
    dec = P.derive_problems(eng, DEC)
    m1 = dec[(dec["household_id"] == "M1")].set_index("problem_id")
    assert m1.loc[ids[("M1", "纳而不扶")], "status"] == "已整改"
    reraised = m1[m1.index != ids[("M1", "纳而不扶")]]
    assert len(reraised) == 1 and reraised["colour"].iloc[0] == "蓝单" and reraised["period"].iloc[0] == DEC
    # November's closures are not listed again in December
    assert ids[("V2", "应纳未纳")] not in set(dec["problem_id"])


def _nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values alike (a column read with no value at all comes back None, else NaN)."""
    return frame.astype(object).where(frame.notna(), None)


def test_a_township_list_is_the_county_list_of_that_township(eng):
    """A township's problem list (read for its own PDF) is the county list's rows of that township,
    in the same states and order — before and after November's rectifications and escalation."""
    ids = P.derive_problems(eng, OCT).set_index(["household_id", "problem_type"])["problem_id"]
    load_period(eng, NOV, households(), rectifications=rectifications(
        (ids[("V2", "应纳未纳")], "2026-11-08", "已入户核实并纳入监测")))
    P.derive_problems(eng, NOV)
    for period, as_of in ((OCT, dt.date(2026, 11, 10)), (NOV, None)):
        county = P.problem_list(eng, period, as_of=as_of)
        seen = 0
        for town in ("451302101", "451302102"):
            own = P.problem_list(eng, period, as_of=as_of, township_code=town)
            expected = county[county["township_code"] == town].reset_index(drop=True)
            pd.testing.assert_frame_equal(_nulls_as_none(own), _nulls_as_none(expected))
            seen += len(own)
        assert seen == len(county) and len(county["colour"].unique()) >= 2  # several states, every row once


def test_spot_check_problems_are_included(eng):
    with eng.begin() as c:
        c.execute(insert(SpotCheckDraw), [{"period": OCT, "household_id": "Z9", "township_code": "451302102",
                                           "seed": 1, "position": 1, "drawn_at": dt.datetime(2026, 10, 2)}])
    load_period(eng, OCT, households(), spot_check_results=feedback("spot_check_results", [
        {"household_id": "Z9", "check_date": "2026-10-12", "answered": "是", "consistent": "否", "assisted": "是",
         "remark": "人口数不符"}]))
    got = P.derive_problems(eng, OCT)
    spot = got[got["problem_type"] == "电话抽查不符"]
    assert spot["household_id"].tolist() == ["Z9"] and spot["found_on"].tolist() == [dt.date(2026, 10, 12)]
    assert "信息不一致" in spot["detail"].iloc[0] and spot["colour"].iloc[0] == "蓝单"


def test_escalation_wording_in_one_place():
    rules = P.escalation_rules(dt.date(2026, 11, 6))
    assert set(rules) == {"蓝单", "黄单", "红单"}
    assert "3日内" in rules["蓝单"] and "应纳未纳" in rules["红单"]
    assert P.PROBLEM_TYPES == ("应纳未纳", "纳而不扶", "消除不规范", "核实超期", "电话抽查不符", "疑点数据")
    assert P.TYPE_CODES["疑点数据"] == "YDSJ"
    assert P.problem_id("核实超期", "H1", "2026-09") == P.problem_id("核实超期", "H1", "2026-09")
    assert P.problem_id("核实超期", "H1", "2026-09") != P.problem_id("核实超期", "H1", "2026-10")


def test_a_verification_before_the_push_does_not_count(db_url):
    """The push is dated the day it is actually sent (here the ingest ran late, on the 8th): a visit
    before that day is not the verification of the push; the deadline is the 23rd."""
    eng = db.engine(db_url)
    sep = households()
    load_period(eng, SEP, sep)
    stored = screen.store_screening(eng, SEP, screen.screen(sep, SEP, "广西"), pushed_on=dt.date(2026, 10, 8))
    assert set(stored["verify_by"]) == {pd.Timestamp("2026-10-23")}
    # re-running the screening later keeps the date the list was first sent with
    again = screen.store_screening(eng, SEP, screen.screen(sep, SEP, "广西"), pushed_on=dt.date(2026, 10, 30))
    assert set(again["pushed_on"]) == {pd.Timestamp("2026-10-08")}
    load_period(eng, OCT, households(), verifications=verifications(
        ("V1", "2026-10-07", "排除"), ("V2", "2026-10-23", "纳入监测"), ("V4", "2026-10-24", "排除"),
        ("V5", "2026-10-10", "排除"), ("V6", "2026-10-08", "排除"),
        ("V3", "2026-10-08", "排除"), ("E3", "2026-10-09", "排除"), ("E4", "2026-10-09", "排除")))
    got = by_household(P.derive_problems(eng, OCT))
    assert got["V1"] == ["应纳未纳"] and "V2" not in got and got["V4"] == ["核实超期"]
    assert not {"V3", "V5", "V6", "E4"} & set(got)
