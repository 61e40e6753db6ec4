"""Leaders' reports (周统计、月通报、季调度) and the townships' problem lists.

A small hand-made county is loaded into the monitoring database (feed tables through
db.replace_period, derived tables through the ORM) so that every figure is known; the
contexts are checked against those rows, then the PDFs are rendered and their extracted
text is checked (key Chinese strings, figures, and no ID or phone number anywhere).
"""

from __future__ import annotations

import datetime as dt
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fangpin import charts, reports
from fangpin.ids import ID_PATTERN, PHONE_PATTERN, make_id
from fangpin.periods import Month, Week
from fangpin.reports import common as C
from fangpin.reports import monthly, quarterly, township, weekly
from fangpin.store import db
from fangpin.store.models import (Problem, QuarantinedRow, ScreeningResult, SpotCheckDraw, ValidationRun,
                                  WeeklyVillageDraw)

OCT, NOV = "2026-10", "2026-11"
T1, T2, T3, T4 = "451302100", "451302101", "451302102", "451302103"
TOWN_NAMES = {T1: "城东镇", T2: "南山乡", T3: "北河镇", T4: "西岭乡"}
SURNAMES = "韦覃黄蓝莫陆梁廖"
GIVEN = "春明华秀英桂兰丽"

# (township, [(category, identified_month, risk_eliminated, eliminated_month), ...])
HOUSEHOLDS = {
    T1: [("脱贫户", None, None, None), ("脱贫户", None, None, None), ("脱贫户", None, None, None),
         ("监测户", "2026-10", "否", None), ("一般农户", None, None, None), ("监测户", "2025-09", "是", "2026-10"),
         ("一般农户", None, None, None), ("监测户", "2025-03", "是", "2026-05")],
    T2: [("脱贫户", None, None, None), ("脱贫户", None, None, None), ("一般农户", None, None, None),
         ("监测户", "2026-03", "否", None), ("监测户", "2026-10", "否", None), ("脱贫户", None, None, None)],
    T3: [("监测户", "2025-12", "是", "2026-10"), ("脱贫户", None, None, None), ("一般农户", None, None, None),
         ("监测户", "2026-01", "否", None), ("脱贫户", None, None, None)],
    T4: [("监测户", "2026-02", "否", None), ("一般农户", None, None, None), ("脱贫户", None, None, None)],
}


def hid(town: str, n: int) -> str:
    return f"HH{town[-3:]}{n:03d}"


def head_name(town: str, n: int) -> str:
    i = list(HOUSEHOLDS).index(town)
    return SURNAMES[i] + GIVEN[n - 1] + "生"


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["source_row"] = np.arange(2, len(df) + 2)
    return df


def members(hh: pd.DataFrame) -> pd.DataFrame:
    """declared_size members per household (so persons = Σ 家庭人口数)."""
    rows = []
    for h in hh.itertuples():
        for k in range(int(h.declared_size)):
            rows.append({"id_number": make_id("451302", dt.date(1980 + k, 1 + k, 1 + h.source_row % 28), 300 + h.source_row),
                         "household_id": h.household_id, "name": f"{h.head_name[:1]}成员{k}",
                         "relation": "户主" if k == 0 else "子女", "labor_skill": "普通劳动力"})
    return _frame(rows)


def registry(eliminate_in_nov: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    regions, hh = [], []
    for town, rows in HOUSEHOLDS.items():
        regions.append({"code": town, "name": TOWN_NAMES[town], "level": "乡镇", "township_code": town})
        for v in (1, 2):
            code = f"{town}{v:03d}"
            regions.append({"code": code, "name": f"{TOWN_NAMES[town][:2]}{v}村", "level": "村", "township_code": town})
        for n, (cat, ident, elim, elim_month) in enumerate(rows, start=1):
            if eliminate_in_nov and (town, n) == (T2, 4):
                elim, elim_month = "是", "2026-11"
            village = f"{town}{1 + (n - 1) % 2:03d}"
            hh.append({"household_id": hid(town, n), "village_code": village, "township_code": town,
                       "head_name": head_name(town, n),
                       "head_id_number": make_id("451302", dt.date(1970 + n, 3, n), 100 + n),
                       "phone": f"139{int(town[-3:]):03d}{n:05d}", "declared_size": 1 + n % 4, "category": cat,
                       "monitor_type": "脱贫不稳定户" if cat == "监测户" else None, "identified_month": ident,
                       "risk_eliminated": elim, "eliminated_month": elim_month, "income": 6500.0 + 100 * n,
                       "last_income": 7000.0, "measures": 1})
    return _frame(regions), _frame(hh)


D = dt.date


def inspection(town, n, day, result="无风险"):
    return {"household_id": hid(town, n), "inspect_date": pd.Timestamp(day), "inspector": "信息员甲", "result": result}


def populate(eng) -> None:
    """The hand-made county: deliveries 2026-09 (inspections only), 2026-10 (all) and 2026-11 (registry);
    October's township feedback arrives weekly, each row in the drop of its week (2026-W41..W43)."""
    regions, hh = registry()
    regions_nov, hh_nov = registry(eliminate_in_nov=True)
    inspections_oct = _frame([
        inspection(T1, 1, D(2026, 10, 20)), inspection(T1, 2, D(2026, 10, 20), "发现风险"),
        inspection(T1, 3, D(2026, 10, 21)), inspection(T1, 4, D(2026, 10, 5)), inspection(T1, 1, D(2026, 10, 6)),
        inspection(T2, 1, D(2026, 10, 21)),
    ])
    inspections_sep = _frame([inspection(T2, 2, D(2026, 9, 28))])
    verifications_oct = _frame([
        {"household_id": hid(T1, 5), "verify_date": pd.Timestamp(D(2026, 10, 10)), "conclusion": "纳入监测"},
        {"household_id": hid(T1, 6), "verify_date": pd.Timestamp(D(2026, 10, 20)), "conclusion": "排除"},
        {"household_id": hid(T2, 4), "verify_date": pd.Timestamp(D(2026, 9, 30)), "conclusion": "持续关注"},
    ])
    spot_oct = _frame([
        {"household_id": hid(T1, 1), "check_date": pd.Timestamp(D(2026, 10, 12)), "answered": "是",
         "consistent": "是", "assisted": "是", "remark": None},
        {"household_id": hid(T1, 2), "check_date": pd.Timestamp(D(2026, 10, 22)), "answered": "是",
         "consistent": "否", "assisted": "是", "remark": "收入与系统不符"},
        {"household_id": hid(T2, 1), "check_date": pd.Timestamp(D(2026, 10, 15)), "answered": "否",
         "consistent": "否", "assisted": "否", "remark": None},
    ])
    rect_oct = _frame([
        {"problem_id": "HSCQ-202609-0000000B", "rectify_date": pd.Timestamp(D(2026, 10, 8)), "description": "已补核实"},
        {"problem_id": "HSCQ-202610-0000000F", "rectify_date": pd.Timestamp(D(2026, 10, 12)), "description": "已核实"},
    ])
    with eng.begin() as conn:
        for period, (r, h) in ((OCT, (regions, hh)), (NOV, (regions_nov, hh_nov))):
            db.replace_period(conn, "regions", period, r)
            db.replace_period(conn, "households", period, h)
            db.replace_period(conn, "members", period, members(h))
        db.replace_period(conn, "inspections", "2026-09", inspections_sep)
        for feed, frame, day in (("inspections", inspections_oct, "inspect_date"),
                                 ("verifications", verifications_oct, "verify_date"),
                                 ("spot_check_results", spot_oct, "check_date"),
                                 ("rectifications", rect_oct, "rectify_date")):
            # (a row dated in September came with the October delivery)
            when = frame[day].map(lambda d: str(Week.containing(d.date())) if d.month == 10 else OCT)
            for week, rows in frame.groupby(when):
                db.replace_period(conn, feed, week, rows.reset_index(drop=True))

    def sr(period, town, n, risk, monitored, status, pushed, verify_by, rules="R01"):
        return ScreeningResult(period=period, household_id=hid(town, n), township_code=town,
                               village_code=f"{town}{1 + (n - 1) % 2:03d}", rules=rules, risk_level=risk,
                               already_monitored=monitored, explanation="人均纯收入低于监测范围", first_seen=period,
                               status=status, pushed_on=pushed, verify_by=verify_by)

    sep_push, sep_by = D(2026, 10, 1), D(2026, 10, 16)
    oct_push, oct_by = D(2026, 11, 1), D(2026, 11, 16)

    def problem(pid, period, ptype, town, n, found, deadline, closed=None):
        # notified (通报) three days (problems.rectification_days) before its first deadline
        return Problem(problem_id=pid, period=period, problem_type=ptype, township_code=town,
                       village_code=f"{town}{1 + (n - 1) % 2:03d}", household_id=hid(town, n),
                       detail=f"{ptype}：户主身份证{make_id('451302', D(1980, 1, 1), 7)}，电话13912345678",
                       found_on=found, deadline=deadline, closed_on=closed,
                       notified_on=deadline - dt.timedelta(days=3))

    now = dt.datetime(2026, 11, 6, 9, 0)
    with Session(eng) as s, s.begin():
        s.add_all([
            sr("2026-09", T1, 5, "高", False, "新增疑似", sep_push, sep_by),
            sr("2026-09", T1, 6, "中", False, "新增疑似", sep_push, sep_by),
            sr("2026-09", T2, 3, "低", False, "新增疑似", sep_push, sep_by),
            sr("2026-09", T2, 4, "高", True, "新增疑似", sep_push, sep_by),
            sr(OCT, T1, 7, "高", False, "新增疑似", oct_push, oct_by),
            sr(OCT, T2, 3, "低", False, "持续疑似", oct_push, oct_by),
            sr(OCT, T3, 1, "中", True, "新增疑似", oct_push, oct_by),
            problem("HSCQ-202609-0000000A", "2026-09", "核实超期", T1, 5, D(2026, 9, 20), D(2026, 10, 9)),
            problem("HSCQ-202609-0000000B", "2026-09", "核实超期", T2, 3, D(2026, 9, 20), D(2026, 10, 9),
                    D(2026, 10, 8)),
            problem("DHCC-202610-0000000C", OCT, "电话抽查不符", T1, 6, D(2026, 10, 20), D(2026, 10, 23)),
            problem("YNWN-202610-0000000D", OCT, "应纳未纳", T2, 4, D(2026, 10, 28), D(2026, 11, 9)),
            problem("HSCQ-202610-0000000E", OCT, "核实超期", T3, 2, D(2026, 10, 29), D(2026, 11, 9)),
            problem("HSCQ-202610-0000000F", OCT, "核实超期", T3, 3, D(2026, 10, 5), D(2026, 10, 8), D(2026, 10, 12)),
            problem("NEBF-202608-00000010", "2026-08", "纳而不扶", T1, 4, D(2026, 8, 31), D(2026, 9, 9),
                    D(2026, 9, 15)),
            # each month's draw is made and dated at its start; October's calls belong to October's draw
            SpotCheckDraw(period="2026-09", household_id=hid(T1, 3), township_code=T1, seed=1, position=1,
                          drawn_at=dt.datetime(2026, 9, 1)),
            SpotCheckDraw(period="2026-09", household_id=hid(T2, 2), township_code=T2, seed=1, position=1,
                          drawn_at=dt.datetime(2026, 9, 1)),
            SpotCheckDraw(period="2026-09", household_id=hid(T3, 1), township_code=T3, seed=1, position=1,
                          drawn_at=dt.datetime(2026, 9, 1)),
            SpotCheckDraw(period=OCT, household_id=hid(T1, 1), township_code=T1, seed=1, position=1,
                          drawn_at=dt.datetime(2026, 10, 1)),
            SpotCheckDraw(period=OCT, household_id=hid(T1, 2), township_code=T1, seed=1, position=2,
                          drawn_at=dt.datetime(2026, 10, 1)),
            SpotCheckDraw(period=OCT, household_id=hid(T2, 1), township_code=T2, seed=1, position=1,
                          drawn_at=dt.datetime(2026, 10, 1)),
            QuarantinedRow(period=OCT, feed="inspections", source_row=9, reasons="排查日期：日期无效",
                           raw={"户编号": hid(T1, 8), "排查日期": "2026-13-01", "排查人": "信息员甲", "排查结果": "无风险"}),
            QuarantinedRow(period=OCT, feed="verifications", source_row=9, reasons="户编号：不存在",
                           raw={"户编号": "HH999999", "核实日期": "2026-10-01", "核实结论": "排除"}),
        ])
        for feed, status, total, quar, unm in (("medical", "通过", 100, 0, 12), ("disability", "有隔离", 50, 5, 3),
                                               ("civil_affairs", "未提供", 0, 0, 0),
                                               ("inspections", "有隔离", 7, 1, 0)):
            s.add(ValidationRun(run_uid="r1", period=OCT, feed=feed, department="部门", status=status,
                                rows_total=total, rows_accepted=total - quar, rows_quarantined=quar,
                                rows_unmatched=unm, validated_at=now, is_current=True))
        for period in (OCT, NOV):
            s.add(ValidationRun(run_uid="r1", period=period, feed="households", department="乡村振兴局", status="通过",
                                rows_total=22, rows_accepted=22, rows_quarantined=0, rows_unmatched=0,
                                validated_at=now, is_current=True))
        # a superseded run must be ignored
        s.add(ValidationRun(run_uid="r0", period=OCT, feed="medical", department="医保局", status="拒收",
                            rows_total=0, rows_accepted=0, rows_quarantined=0, rows_unmatched=0,
                            validated_at=now - dt.timedelta(days=1), is_current=False))


@pytest.fixture
def county(db_url):
    eng = db.engine(db_url)
    populate(eng)
    return eng


@pytest.fixture
def county_sqlite(sqlite_url):
    eng = db.engine(sqlite_url)
    populate(eng)
    return eng


def by_code(rows: list[dict]) -> dict[str, dict]:
    return {r["township_code"]: r for r in rows}


# ---- weekly --------------------------------------------------------------------------------

def test_weekly_figures_match_the_rows(county):
    ctx = weekly.build_context(county, "2026-W43")  # 2026-10-19 .. 2026-10-25
    rows = by_code(ctx["rows"])
    assert list(rows) == [T1, T2, T3, T4]
    t1, t2, t3 = rows[T1], rows[T2], rows[T3]
    # distinct households inspected in the week; the 10-05/10-06 visits count for coverage only
    assert (t1["households"], t1["inspected_week"], t1["risk_found_week"], t1["covered"]) == (8, 3, 1, 4)
    assert t1["coverage"] == pytest.approx(0.5)
    # the September delivery's inspection counts towards coverage since the campaign start
    assert (t2["inspected_week"], t2["covered"], t2["households"]) == (1, 2, 6)
    assert (t3["inspected_week"], t3["covered"]) == (0, 0)
    # pushes of 10-01 (verify by 10-16): T1 one on time, one late (in the week); T2 none valid
    # (its already-monitored household 4 is not pushed at all)
    assert (t1["pushed"], t1["verified"], t1["verified_week"], t1["overdue"], t1["pending"]) == (2, 2, 1, 0, 0)
    assert (t2["pushed"], t2["verified"], t2["overdue"]) == (1, 0, 1)
    # spot checks of October's draw (made 10-01) called by 10-25, one of them during the week
    assert (t1["spot_to_call"], t1["spot_called"], t1["spot_passed"], t1["spot_called_week"]) == (2, 2, 1, 1)
    assert (t2["spot_to_call"], t2["spot_called"], t2["spot_called_week"]) == (1, 1, 0)
    # problems in their state at the week's end (10-25), only those notified by then:
    # September's A (deadline 10-09) is 黄; October's C (notified 10-20, deadline 10-23) turned 黄 this week
    assert (t1["open_yellow"], t1["open_red"], t1["yellow_week"]) == (2, 0, 1)
    assert [p["problem_id"] for p in ctx["turned_yellow"]] == ["DHCC-202610-0000000C"]
    assert ctx["total"]["open_blue"] + ctx["total"]["open_yellow"] + ctx["total"]["open_red"] == 2
    # no weekly drop was validated for the week (the fixture stores its rows directly): reported
    assert not ctx["delivery"]["delivered"] and ctx["delivery"]["folder"] == "weekly/2026-W43/"
    assert ctx["total"]["inspected_week"] == 4 and ctx["total"]["covered"] == 6
    assert ctx["total"]["coverage"] == pytest.approx(6 / 22)


def test_weekly_pending_before_the_deadline(county):
    ctx = weekly.build_context(county, "2026-10-07")  # week 2026-10-05 .. 11
    rows = by_code(ctx["rows"])
    assert (rows[T1]["verified"], rows[T1]["pending"], rows[T1]["overdue"]) == (1, 1, 0)
    assert (rows[T2]["pending"], rows[T2]["overdue"]) == (1, 0)
    assert rows[T1]["inspected_week"] == 2  # 10-05 and 10-06
    assert rows[T1]["spot_called"] == 0


def test_weekly_village_draw_is_reproducible_and_stored(county):
    first = weekly.build_context(county, "2026-W43")["village"]
    again = weekly.build_context(county, "2026-W43", seed=999)["village"]  # stored draw wins
    assert (again["code"], again["seed"]) == (first["code"], first["seed"])
    with county.connect() as conn:
        stored = conn.execute(select(WeeklyVillageDraw.__table__)).mappings().all()
    assert [(r["week"], r["village_code"], r["seed"]) for r in stored] == [("2026-W43", first["code"], first["seed"])]
    codes = sorted(f"{t}{v:03d}" for t in HOUSEHOLDS for v in (1, 2))
    week = Week.parse("2026-W43")
    assert first["code"] == weekly.pick_village(codes, week, weekly.default_seed(week))
    # the draw depends on the week and the seed, and is spread over the villages
    picks = {weekly.pick_village(codes, Week.parse(f"2026-W{w:02d}"), 1) for w in range(1, 40)}
    assert len(picks) >= 5
    # the village's figures are those of its households
    vhh = [n for n, _ in enumerate(HOUSEHOLDS[first["code"][:9]], start=1)
           if f"{first['code'][:9]}{1 + (n - 1) % 2:03d}" == first["code"]]
    assert first["households"] == len(vhh)


def test_weekly_village_lists_its_pending_households(county):
    # force the draw onto T2's village 001 (households 1, 3, 5): household 3 is overdue
    with Session(county) as s, s.begin():
        s.add(WeeklyVillageDraw(week="2026-W43", village_code=f"{T2}001", seed=5, drawn_at=dt.datetime(2026, 10, 26)))
    v = weekly.build_context(county, "2026-W43")["village"]
    assert (v["code"], v["households"], v["overdue"]) == (f"{T2}001", 3, 1)
    assert [a["head_name"] for a in v["attention"]] == [head_name(T2, 3)]


# ---- monthly -------------------------------------------------------------------------------

def test_monthly_figures_match_the_rows(county):
    ctx = monthly.build_context(county, OCT)
    rows = by_code(ctx["rows"])
    t1, t2, t3, t4 = rows[T1], rows[T2], rows[T3], rows[T4]
    assert (t1["monitored"], t1["new_entries"], t1["eliminated_in_month"], t1["eliminated_total"]) == (3, 1, 1, 2)
    assert t1["elimination_rate"] == pytest.approx(2 / 3)
    assert (t2["monitored"], t2["new_entries"], t2["eliminated_total"]) == (2, 1, 0)
    assert (t3["monitored"], t3["eliminated_in_month"]) == (2, 1)
    # the October screening: suspected, new, high risk not monitored (应纳未纳)
    assert (t1["suspected"], t1["suspected_new"], t1["should_monitor"]) == (1, 1, 1)
    assert (t2["suspected"], t2["suspected_new"], t3["suspected"]) == (1, 0, 1)
    # the pushes of the month (September's screening) and their verification
    assert (t1["pushed"], t1["verified_on_time"], t1["verified_late"], t1["overdue"]) == (2, 1, 1, 0)
    assert t1["verification_timeliness"] == pytest.approx(0.5)
    # T2's already-monitored household 4 is not pushed, so not counted overdue
    assert (t2["pushed"], t2["overdue"], t2["verification_timeliness"]) == (1, 1, 0.0)
    assert t3["pushed"] == 0 and t3["verification_timeliness"] is None
    # spot checks: T1 2 called 1 passed; T2 1 called (not answered)
    assert (t1["spot_called"], t1["spot_passed"], t1["spot_pass_rate"]) == (2, 1, 0.5)
    assert (t2["spot_called"], t2["spot_pass_rate"]) == (1, 0.0)
    assert t3["spot_pass_rate"] is None
    # township data quality: T1 delivered 7 accepted feedback rows and 1 quarantined
    assert t1["data_quality"] == pytest.approx(7 / 8)
    assert t2["data_quality"] == pytest.approx(1.0) and t4["data_quality"] is None
    tot = ctx["total"]
    assert (tot["monitored"], tot["pushed"], tot["spot_called"]) == (8, 3, 3)
    # persons: members of the monitored households (declared_size = 1 + n % 4 members each)
    size = {(t, n): 1 + n % 4 for t, rows_ in HOUSEHOLDS.items() for n in range(1, len(rows_) + 1)}
    mon = [k for k in size if HOUSEHOLDS[k[0]][k[1] - 1][0] == "监测户"]
    elim = [k for k in mon if HOUSEHOLDS[k[0]][k[1] - 1][2] == "是"]
    assert tot["monitored_persons"] == sum(size[k] for k in mon)
    assert tot["elimination_rate_persons"] == pytest.approx(sum(size[k] for k in elim) / sum(size[k] for k in mon))
    assert t1["elimination_rate_persons"] == pytest.approx((size[(T1, 6)] + size[(T1, 8)]) / (size[(T1, 4)] + size[(T1, 6)] + size[(T1, 8)]))


def test_problem_lists_and_colours(county):
    ctx = monthly.build_context(county, OCT)
    listed = {p["problem_id"]: p for s in ctx["problem_sections"] for p in s["rows"]}
    # the August problem closed in September is not listed any more
    assert set(listed) == {"HSCQ-202609-0000000A", "HSCQ-202609-0000000B", "DHCC-202610-0000000C",
                           "YNWN-202610-0000000D", "HSCQ-202610-0000000E", "HSCQ-202610-0000000F"}
    colours = {k: p["colour"] for k, p in listed.items()}
    assert colours == {"HSCQ-202609-0000000A": "红单",   # still open at the next bulletin
                       "HSCQ-202609-0000000B": "",       # rectified in October
                       "DHCC-202610-0000000C": "黄单",   # deadline 10-23 passed
                       "YNWN-202610-0000000D": "红单",   # high-risk 应纳未纳
                       "HSCQ-202610-0000000E": "蓝单",   # new, within its deadline
                       "HSCQ-202610-0000000F": ""}
    assert listed["HSCQ-202609-0000000B"]["status"] == "已整改"
    assert listed["HSCQ-202609-0000000A"]["head_name"] == head_name(T1, 5)
    assert listed["HSCQ-202609-0000000A"]["village_name"] == "城东1村"
    rows = by_code(ctx["rows"])
    assert (rows[T1]["red"], rows[T1]["yellow"], rows[T1]["blue"]) == (1, 1, 0)
    assert (rows[T2]["red"], rows[T3]["blue"]) == (1, 1)
    # due by the bulletin date (2026-11-06): T1 2 due none closed; T2 1 due closed; T3 1 due closed
    assert rows[T1]["rectification_rate"] == 0.0
    assert rows[T2]["rectification_rate"] == 1.0 and rows[T3]["rectification_rate"] == 1.0
    assert [p["problem_id"] for p in ctx["escalated"]] == ["HSCQ-202609-0000000A", "YNWN-202610-0000000D",
                                                          "DHCC-202610-0000000C"]
    assert len(ctx["escalation_rules"]) == 3 and any("红单" in r for r in ctx["escalation_rules"])


def test_report_problem_list_is_the_problems_modules_state(county):
    """Reports hold no colour logic: the bulletin's list is fangpin.problems' state on the bulletin date."""
    from fangpin import problems as P

    month = Month.parse(OCT)
    issued = C.bulletin_date(month)
    ours = C.problem_list(county, month, issued).set_index("problem_id")
    theirs = P.problem_list(county, OCT, as_of=issued).set_index("problem_id")
    assert ours["colour"].to_dict() == theirs["colour"].to_dict()
    assert ours["state"].to_dict() == theirs["state"].to_dict()
    assert not hasattr(C, "colour_problems") and not hasattr(C, "_stored_problem_list")


def test_ranking_uses_the_documented_score(county):
    ctx = monthly.build_context(county, OCT)
    w = {m["key"]: m["weight"] for m in ctx["method"]}
    assert sum(w.values()) == pytest.approx(1.0)
    ind = {  # (timeliness, rectification, pass rate, elimination, data quality) from the rows above
        T1: (0.5, 0.0, 0.5, 2 / 3, 7 / 8),
        T2: (0.0, 1.0, 0.0, 0.0, 1.0),
        T3: (None, 1.0, None, 0.5, 1.0),
        T4: (None, None, None, 0.0, None),
    }
    keys = ["verification_timeliness", "rectification_rate", "spot_check_pass_rate", "risk_elimination_rate",
            "data_quality"]
    expected = {}
    for town, vals in ind.items():
        # the full weight set: a missing indicator counts 0, never reweighted away
        expected[town] = round(100 * sum(w[k] * (v or 0.0) for k, v in zip(keys, vals)), 2)
    scores = {r["township_code"]: r["score"] for r in ctx["ranked"]}
    assert scores == pytest.approx(expected)
    # a missing indicator is shown as missing
    missing = {r["township_code"]: r["missing_count"] for r in ctx["ranked"]}
    assert missing == {t: sum(v is None for v in vals) for t, vals in ind.items()}
    assert [r["township_code"] for r in ctx["incomplete"]] == [r["township_code"] for r in ctx["ranked"]
                                                               if r["township_code"] in (T3, T4)]
    t3 = next(r for r in ctx["ranked"] if r["township_code"] == T3)
    assert t3["missing"] == "核实及时率、电话抽查合格率"
    order = [r["township_code"] for r in ctx["ranked"]]
    assert order == sorted(expected, key=lambda t: -expected[t])
    assert [r["rank"] for r in ctx["ranked"]] == [1, 2, 3, 4]
    # the letter names the last three and the townships with a red-list problem
    assert ctx["visit"]["bottom"] == [TOWN_NAMES[t] for t in sorted(expected, key=lambda t: expected[t])[:3]]
    assert set(ctx["visit"]["red"]) == {TOWN_NAMES[T1], TOWN_NAMES[T2]}
    letter = "".join(ctx["letter"])
    assert all(name in letter for name in ctx["visit"]["all"])
    assert "监测户8户" in letter and "推送乡镇核实3户" in letter


def test_rank_ties_share_a_rank():
    fig = pd.DataFrame({"township_code": ["a", "b", "c"], "verification_timeliness": [1.0, 1.0, 0.5],
                        "rectification_rate": [None, None, None], "spot_pass_rate": [None, None, None],
                        "elimination_rate": [None, None, None], "data_quality": [None, None, None]})
    out = C.rank_townships(fig, {"verification_timeliness": 1.0, "rectification_rate": 1.0})
    assert out.set_index("township_code")["rank"].to_dict() == {"a": 1, "b": 1, "c": 3}
    # over the full weight set: rectification_rate (no data anywhere) counts 0
    assert out.set_index("township_code")["score"].to_dict() == {"a": 50.0, "b": 50.0, "c": 25.0}


def test_departments_section(county):
    ctx = monthly.build_context(county, OCT)
    d = {r["feed"]: r for r in ctx["departments"]}
    assert d["medical"]["status"] == "通过" and d["medical"]["rows_total"] == 100  # the current run
    assert d["disability"]["quarantine_rate"] == pytest.approx(0.1)
    assert d["civil_affairs"]["delivered"] is False
    assert d["education"]["status"] == "未提供"  # no run, no rows
    assert d["verifications"]["rows_total"] == 3  # no run: rows loaded
    # township feedback: the month's delivery and the weekly drops arrived in the cycle
    assert d["verifications"]["deliveries"] == [OCT, "2026-W41", "2026-W43"]
    assert d["verifications"]["status"] == "已入库（无校验记录）"
    assert list(d)[:6] == ["medical", "disability", "civil_affairs", "education", "housing", "health"]


# ---- quarterly -----------------------------------------------------------------------------

def deliver_december(eng) -> None:
    """A December delivery: November's registry again, validated."""
    regions, hh = registry(eliminate_in_nov=True)
    with eng.begin() as conn:
        db.replace_period(conn, "regions", "2026-12", regions)
        db.replace_period(conn, "households", "2026-12", hh)
        db.replace_period(conn, "members", "2026-12", members(hh))
    with Session(eng) as s, s.begin():
        s.add(ValidationRun(run_uid="r2", period="2026-12", feed="households", department="乡村振兴局", status="通过",
                            rows_total=len(hh), rows_accepted=len(hh), rows_quarantined=0, rows_unmatched=0,
                            validated_at=dt.datetime(2027, 1, 6), is_current=True))


def test_quarterly_without_the_last_month_or_with_a_gap(county):
    # December (the quarter's last month) not delivered yet: no materials
    with pytest.raises(C.NoReportData, match="2026-12"):
        quarterly.build_context(county, "2026-Q4")
    # a month before it without data (November held: no households) is "—" and named, never zeros
    deliver_december(county)
    with county.begin() as conn:
        db.replace_period(conn, "households", NOV, registry()[1].iloc[0:0])
    ctx = quarterly.build_context(county, "2026-Q4")
    assert ctx["delivered"] == [True, False, True]
    assert ctx["missing_months"] == ["2026年11月"]
    rows = by_code(ctx["rows"])
    assert rows[T1]["monitored"] == [3, None, 3]
    assert ctx["county_series"]["pushed"][1] is None and ctx["county_series"]["monitored"] == [8, None, 8]
    from fangpin.render import render_html

    html = render_html(quarterly.TEMPLATE, ctx)
    assert "2026年11月无已校验的农户数据" in html and "nan" not in html.lower()


def test_quarterly_three_months_side_by_side(county):
    deliver_december(county)
    ctx = quarterly.build_context(county, "2026-Q4")
    assert ctx["months"] == ["10月", "11月", "12月"]
    rows = by_code(ctx["rows"])
    assert rows[T2]["elimination_rate"] == [0.0, 0.5, 0.5]  # Nov eliminates one of two
    assert rows[T1]["monitored"] == [3, 3, 3]
    # T1 and T2 have a red-list problem in October and November; T3 only in November
    assert rows[T1]["red"][:2] == [1, 2] and rows[T3]["red"][:2] == [0, 1]
    # T1 and T2 red in all three months, T3 in November and December
    assert {r["township_code"]: r["months"] for r in ctx["repeated_red"]} == {T1: 3, T2: 3, T3: 2}
    assert ctx["county_series"]["problems_new"][:2] == [4, 0]
    assert ctx["departments"][0]["months"][0]["status"] == "通过"


# ---- township problem list -----------------------------------------------------------------

def test_township_problem_list_context(county):
    ctx = township.build_context(county, OCT, T1)
    assert ctx["township_name"] == "城东镇"
    assert [r["problem_id"] for r in ctx["rows"]] == ["HSCQ-202609-0000000A", "DHCC-202610-0000000C"]
    assert ctx["counts"] == {"红单": 1, "黄单": 1, "蓝单": 0}
    # details are redacted: no ID or phone number even when the stored text has them
    assert not any(ID_PATTERN.search(r["detail"]) or PHONE_PATTERN.search(r["detail"]) for r in ctx["rows"])
    assert township.build_context(county, OCT, T4)["rows"] == []


# ---- PDFs ----------------------------------------------------------------------------------

def pdf_text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def assert_no_personal_numbers(text: str) -> None:
    assert not ID_PATTERN.search(text), ID_PATTERN.search(text).group(0)
    assert not PHONE_PATTERN.search(text), PHONE_PATTERN.search(text).group(0)


def page_count(path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(path)).pages)


def test_render_every_report(county_sqlite, tmp_path):
    eng = county_sqlite
    deliver_december(eng)
    out = {kind: reports.build_report(kind, period, tmp_path, eng=eng)
           for kind, period in (("weekly", "2026-W43"), ("monthly", OCT), ("quarterly", "2026-Q4"))}
    assert out["monthly"].name == "兴宾区防返贫动态监测月通报_2026年10月.pdf"
    assert out["weekly"].name == "兴宾区防返贫动态监测周统计_2026-W43.pdf"
    assert out["quarterly"].name == "兴宾区防返贫动态监测季度调度会材料_2026年第四季度.pdf"

    text = pdf_text(out["monthly"])
    n = page_count(out["monthly"])
    for s in ("防返贫动态监测工作月通报", "致四家班子领导的一封信", "兴宾区乡村振兴局", "2026年10月", "乡镇综合排名",
              "排名方法", "蓝黄红三单", "各乡镇问题清单", "行业部门数据共享情况", "HSCQ-202609-0000000A",
              head_name(T1, 5), "城东1村", "红单", "黄单", "蓝单", f"第 1 页 / 共 {n} 页", f"第 {n} 页 / 共 {n} 页"):
        assert s in text, s
    ctx = monthly.build_context(eng, OCT)
    for r in ctx["ranked"]:  # every township's score is printed
        assert f"{r['score']:.2f}" in text
    assert "66.7%" in text  # T1's risk elimination rate
    assert_no_personal_numbers(text)

    text = pdf_text(out["weekly"])
    village = weekly.build_context(eng, "2026-W43")["village"]
    for s in ("防返贫动态监测周统计", "点对点", village["name"], "城东镇", "50.0%", "第 1 页"):
        assert s in text, s
    assert_no_personal_numbers(text)

    text = pdf_text(out["quarterly"])
    for s in ("季度调度会材料", "2026年第四季度", "反复红单乡镇", "南山乡", "行业部门数据共享质量", "10月", "12月"):
        assert s in text, s
    assert_no_personal_numbers(text)


def test_render_township_problem_list(county_sqlite, tmp_path):
    path = reports.build_township_problems(OCT, T1, tmp_path, eng=county_sqlite)
    assert path.name == "城东镇防返贫监测问题清单_2026年10月.pdf"
    text = pdf_text(path)
    for s in ("城东镇防返贫动态监测问题清单", "HSCQ-202609-0000000A", "DHCC-202610-0000000C", head_name(T1, 5),
              "核实超期", "电话抽查不符", "红单", "黄单", "升级规则"):
        assert s in text, s
    assert "南山乡" not in text and "YNWN-202610-0000000D" not in text  # another township's problem
    assert_no_personal_numbers(text)
    assert reports.build_township_problems(OCT, T4, tmp_path, eng=county_sqlite) is None


def test_table_headers_repeat_on_every_page(sqlite_url, tmp_path):
    """A long problem list spans pages; each page repeats the table header."""
    eng = db.engine(sqlite_url)
    populate(eng)
    with Session(eng) as s, s.begin():
        s.add_all([Problem(problem_id=f"XCBG-202610-{i:08X}", period=OCT, problem_type="消除不规范",
                           township_code=T3, village_code=f"{T3}001", household_id=hid(T3, 1),
                           detail="风险消除不规范", found_on=D(2026, 10, 31), deadline=D(2026, 11, 9))
                   for i in range(90)])
    path = reports.build_township_problems(OCT, T3, tmp_path, eng=eng)
    from pypdf import PdfReader

    pages = [p.extract_text() for p in PdfReader(str(path)).pages]
    assert len(pages) >= 3
    for page in pages[:-1]:
        assert "问题编号" in page and "整改期限" in page


def test_charts_are_svg_with_chinese_text():
    svg = charts.hbar(["城东镇", "南山乡"], [0.5, None], pct=True, title="覆盖率", reference=0.25)
    assert svg.startswith("<svg") and "城东镇" in svg and "无数据" in svg and "50.0%" in svg
    svg = charts.grouped_bars(["城东镇"], {"10月": [0.1], "11月": [None]}, pct=True)
    assert "10月" in svg and "11月" in svg


def test_charts_on_one_page_do_not_share_ids():
    """matplotlib numbers SVG ids per figure; inlined side by side, two charts must not define the
    same anchor, and each chart's references (clip paths) must point at its own definitions."""
    import re

    one = charts.hbar(["城东镇", "南山乡"], [0.5, 0.2], pct=True, title="覆盖率")
    two = charts.hbar(["城东镇", "南山乡"], [0.4, 0.3], pct=True, title="覆盖率")
    ids = [set(re.findall(r'\bid="([^"]+)"', svg)) for svg in (one, two)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    for svg, defined in zip((one, two), ids):
        refs = set(re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg))
        assert {r for pair in refs for r in pair if r} <= defined


def test_weasyprint_svg_style_noise_is_dropped_other_warnings_kept(caplog):
    import logging

    import fangpin.render  # noqa: F401  (installs the filter)

    log = logging.getLogger("weasyprint")
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        log.warning("Ignored `fill: #1f4e9c` at 1:1, unknown property.")
        log.warning("Ignored `stroke-linejoin: round` at 1:40, unknown property.")
        log.warning("Ignored `colr: red` at 3:5, unknown property.")
        log.warning("Failed to load font at url(missing.woff)")
    assert [r.getMessage() for r in caplog.records] == [
        "Ignored `colr: red` at 3:5, unknown property.", "Failed to load font at url(missing.woff)"]
