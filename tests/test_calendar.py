"""The county's calendar (data contract section 4) on ONE database over consecutive months and
weeks, with every date injected (no dependence on today's date): push dates, the weekly feedback
drop (validation, quarantine, storage, re-runs), the escalation 蓝 → 黄 → 红 with a new deadline,
已销号 on time and late, a rectification dated before its 通报日期 quarantined, problems.csv, and the
周统计 showing the week's own work."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, select

from fangpin import pipeline, problems as P, screen
from fangpin.feedback import read_feedback
from fangpin.store import db
from fangpin.store.models import FEED_TABLES, Problem, QuarantinedRow
from rulecase import build_frames, feedback, load_period

SEP, OCT, NOV = "2026-09", "2026-10", "2026-11"
W46, W50 = "2026-W46", "2026-W50"   # 2026-11-09..15 and 2026-12-07..13
UNASSISTED = {"category": "监测户", "risk_eliminated": "否", "monitor_type": "边缘易致贫户",
              "identified_month": "2025-06", "measures": 0}   # 纳而不扶 every month


def county(**changes) -> dict:
    spec = {"M1": UNASSISTED, "M2": UNASSISTED, "M3": UNASSISTED, "M4": UNASSISTED,
            "V1": {"income": 5000},                                          # R01: high risk, not monitored
            "W1": {"category": "监测户", "risk_eliminated": "否", "monitor_type": "边缘易致贫户",
                   "identified_month": "2025-06", "income": 5000},         # suspected, already monitored
            "Z1": {}}
    spec.update(changes)
    return build_frames({"households": [{"id": k, **v} for k, v in spec.items()]})


def write_csv(folder, feed: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / f"{feed}.csv", index=False, encoding="utf-8-sig")


def ids_by_household(eng) -> dict[str, str]:
    df = P.read_problems(eng)
    return dict(zip(df["household_id"], df["problem_id"]))


def csv_rows(path) -> dict[str, dict]:
    df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    return {r["问题编号"]: r for r in df.to_dict("records")}


@pytest.fixture
def october(db_url):
    """September and October loaded and screened (pushes dated the day sent), October's bulletin
    derived on 2026-11-06."""
    eng = db.engine(db_url)
    load_period(eng, SEP, county())
    screen.store_screening(eng, SEP, screen.screen(county(), SEP, "广西"), pushed_on=dt.date(2026, 10, 6))
    load_period(eng, OCT, county())
    screen.store_screening(eng, OCT, screen.screen(county(), OCT, "广西"), pushed_on=dt.date(2026, 11, 9))
    P.derive_problems(eng, OCT)
    return eng


def test_push_lists_say_the_real_push_date_and_skip_monitored_households(october, tmp_path):
    from openpyxl import load_workbook

    from fangpin.pushlists import HEADER_ROW, write_push_lists

    stored = screen.read_screening(october, OCT).set_index("household_id")
    # the ingest ran late (9 November): 15 days from that day, not from the scheduled 6th
    assert stored.loc["V1", "pushed_on"] == pd.Timestamp("2026-11-09")
    assert stored.loc["V1", "verify_by"] == pd.Timestamp("2026-11-24")
    assert bool(stored.loc["W1", "already_monitored"])
    [path] = write_push_lists(october, OCT, tmp_path)
    ws = load_workbook(path).active
    assert "推送日期：2026-11-09" in ws["A2"].value and "2026-11-24 前" in ws["A2"].value
    listed = [r[2] for r in ws.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]
    assert listed == ["V1"]  # W1 (监测户, risk not eliminated) is not pushed


def test_a_year_of_escalation_on_one_database(october, tmp_path):
    eng = october
    ids = ids_by_household(eng)
    assert set(ids) == {"M1", "M2", "M3", "M4", "V1"}
    at_bulletin = P.problem_list(eng, OCT).set_index("household_id")
    assert set(at_bulletin["notified_on"]) == {dt.date(2026, 11, 6)}
    assert at_bulletin.loc["M1", "state"] == "蓝" and at_bulletin.loc["M1", "deadline"] == dt.date(2026, 11, 9)
    assert at_bulletin.loc["V1", "state"] == "红"  # 应纳未纳: red from its own bulletin

    # the 周统计 of week 45 (issued Monday 9 November), before week 46's drop arrives
    from fangpin.reports import weekly

    w45_before = weekly.build_context(eng, "2026-W45")

    # ---- week 46: the townships' feedback drop ---------------------------------------------
    drop = tmp_path / "incoming" / "weekly" / W46
    write_csv(drop, "rectifications", [
        {"问题编号": ids["M2"], "整改日期": "2026-11-08", "整改情况": "已落实帮扶措施"},      # before the week: still read
        {"问题编号": ids["M3"], "整改日期": "2026-11-12", "整改情况": "已落实帮扶措施"},      # after the deadline: late
        {"问题编号": ids["M4"].lower(), "整改日期": "2026-11-05", "整改情况": "提前报送"},   # before 通报日期
    ])
    write_csv(drop, "inspections", [
        {"户编号": "Z1", "排查日期": "2026-11-10", "排查人": "信息员甲", "排查结果": "无风险"},
        {"户编号": "M1", "排查日期": "2026/11/11", "排查人": "信息员甲", "排查结果": "发现风险"},
        {"户编号": "Z1", "排查日期": "2026-11-20", "排查人": "信息员甲", "排查结果": "无风险"},   # after the week
        {"户编号": "NOBODY", "排查日期": "2026-11-12", "排查人": "信息员乙", "排查结果": "无风险"},  # unknown household
    ])
    summary = pipeline.ingest_week(W46, drop, tmp_path / "out" / W46, eng=eng)
    assert summary["delivered"] and summary["loaded"] == {"inspections": 2, "verifications": 0,
                                                          "spot_check_results": 0, "rectifications": 2}
    feeds = summary["feeds"]
    assert (feeds["rectifications"]["rows"], feeds["rectifications"]["accepted"],
            feeds["rectifications"]["quarantined"]) == (3, 2, 1)
    assert feeds["verifications"]["status"] == "未提供"
    q = pd.read_csv(tmp_path / "out" / W46 / "quarantine" / "rectifications.csv", encoding="utf-8-sig", dtype=str)
    assert q["问题编号"].tolist() == [ids["M4"].lower()]
    assert q["原因"].iloc[0].startswith("整改日期：早于该问题的通报日期2026-11-06")
    qi = pd.read_csv(tmp_path / "out" / W46 / "quarantine" / "inspections.csv", encoding="utf-8-sig", dtype=str)
    assert sorted(qi["户编号"]) == ["NOBODY", "Z1"] and qi["原因"].str.startswith(("户编号", "排查日期")).all()
    with eng.connect() as c:
        stored_q = c.execute(select(func.count()).select_from(QuarantinedRow)
                             .where(QuarantinedRow.period == W46)).scalar_one()
    assert stored_q == 3
    # ingesting the week again replaces it: no duplicates
    pipeline.ingest_week(W46, drop, None, eng=eng)
    with eng.connect() as c:
        n = c.execute(select(func.count()).select_from(FEED_TABLES["rectifications"])
                      .where(FEED_TABLES["rectifications"].c.period == W46)).scalar_one()
    assert n == 2

    # the weekly run: rectifications close, overdue problems turn 黄
    done = pipeline.weekly_feedback(W46, eng=eng)
    assert done["turned_yellow"] == 3  # M1, M3 (rectified only on the 12th) and M4
    week_end = P.problem_list(eng, OCT, as_of=dt.date(2026, 11, 15)).set_index("household_id")
    assert week_end.loc["M1", "state"] == "黄" and week_end.loc["M4", "state"] == "黄"   # the early report did not close M4
    assert (week_end.loc["M2", "state"], week_end.loc["M2", "on_time"]) == ("已销号", "是")
    assert (week_end.loc["M3", "state"], week_end.loc["M3", "on_time"]) == ("已销号", "否")
    with eng.connect() as c:
        marked = dict(c.execute(select(Problem.household_id, Problem.yellow_on)).all())
    assert marked["M1"] == marked["M4"] == dt.date(2026, 11, 15) and marked["M2"] is None

    # what is known when: the closures came with week 46's drop, in on Monday 16 November
    assert read_feedback(eng, "rectifications")["arrived_on"].eq(pd.Timestamp("2026-11-16")).all()
    assert len(read_feedback(eng, "rectifications", known_by=dt.date(2026, 11, 15))) == 0
    seen_15 = P.problem_list(eng, OCT, as_of=dt.date(2026, 11, 15),
                             known_by=dt.date(2026, 11, 15)).set_index("household_id")
    assert seen_15.loc["M2", "state"] == "黄" and seen_15.loc["M2", "closed_on"] is None
    seen_16 = P.problem_list(eng, OCT, as_of=dt.date(2026, 11, 15),
                             known_by=dt.date(2026, 11, 16)).set_index("household_id")
    assert seen_16[["state", "on_time"]].equals(week_end[["state", "on_time"]])
    # week 45's 周统计 rebuilt now reads only what had arrived by its date: unchanged, M2's
    # rectification of the 8th (a week-45 date, delivered with week 46) not in it
    w45_after = weekly.build_context(eng, "2026-W45")
    assert w45_after["total"] == w45_before["total"] and w45_after["total"]["rectified_week"] == 0

    # the 周统计 of week 46 shows that week's work
    ctx = weekly.build_context(eng, W46)
    total = ctx["total"]
    assert total["inspected_week"] == 2 and total["risk_found_week"] == 1
    assert total["rectified_week"] == 1 and total["rectified_week_late"] == 1   # M3 on the 12th; M2's was on the 8th
    assert total["yellow_week"] == 3 and (total["open_yellow"], total["open_red"]) == (2, 1)
    assert {p["problem_id"] for p in ctx["turned_yellow"]} == {ids["M1"], ids["M3"], ids["M4"]}
    assert ctx["delivery"]["delivered"] and ctx["issued_on"] == dt.date(2026, 11, 16)
    # a week with no folder: nothing delivered, reported, not a failure
    empty = pipeline.ingest_week("2026-W47", tmp_path / "incoming" / "weekly" / "2026-W47", None, eng=eng)
    assert not empty["delivered"]
    ctx47 = weekly.build_context(eng, "2026-W47")
    assert not ctx47["delivery"]["delivered"] and ctx47["total"]["inspected_week"] == 0
    assert ctx47["total"]["yellow_week"] == 0  # turned 黄 last week, not again

    # ---- November's bulletin (6 December): still open -> 红 with a new deadline ----------------
    load_period(eng, NOV, county(), rectifications=feedback("rectifications", [
        {"problem_id": ids["M3"], "rectify_date": "2026-11-12", "description": "已落实帮扶措施"}]))  # sent twice
    assert len(read_feedback(eng, "rectifications", dt.date(2026, 11, 1), dt.date(2026, 11, 30))) == 2
    P.derive_problems(eng, NOV)
    nov = P.problem_list(eng, NOV)
    assert nov["problem_id"].is_unique
    # open ones continue under their number; M2 and M3 were closed in November (listed as 已销号) but
    # the registry still shows no measures: new problems of November
    old = nov[nov["problem_id"].isin(ids.values())].set_index("household_id")
    new = nov[~nov["problem_id"].isin(ids.values())].set_index("household_id")
    assert set(old.index) == {"M1", "M2", "M3", "M4", "V1"} and set(new.index) == {"M2", "M3"}
    assert set(new["state"]) == {"蓝"} and set(new["notified_on"]) == {dt.date(2026, 12, 6)}
    assert old.loc["M1", "state"] == "红" and old.loc["M1", "red_on"] == dt.date(2026, 12, 6)
    assert old.loc["M1", "deadline"] == dt.date(2026, 12, 9) and old.loc["M1", "notified_on"] == dt.date(2026, 11, 6)
    # it missed the deadline its bulletin set: overdue (for the rectification rate), whatever the new one
    assert old.loc["M1", "first_deadline"] == dt.date(2026, 11, 9) and old.loc["M1", "status"] == "逾期未整改"
    # re-running a past date reproduces it: October's list as of 15 November is unchanged
    again = P.problem_list(eng, OCT, as_of=dt.date(2026, 11, 15)).set_index("household_id")
    assert again[["state", "deadline", "on_time"]].equals(week_end[["state", "deadline", "on_time"]])

    # ---- week 50: M1 rectified within its red deadline ------------------------------------------
    write_csv(tmp_path / "incoming" / "weekly" / W50, "rectifications", [
        {"问题编号": ids["M1"], "整改日期": "20261208", "整改情况": "已落实帮扶措施"}])
    pipeline.ingest_week(W50, tmp_path / "incoming" / "weekly" / W50, None, eng=eng)
    pipeline.weekly_feedback(W50, eng=eng)

    # problems.csv through the command line, as of a day after week 50
    from fangpin.cli import main

    out = tmp_path / "csv"
    assert main(["problems", "--period", NOV, "--out", str(out), "--as-of", "2026-12-14"]) == 0
    raw = (out / "problems.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw[3:].decode("utf-8").splitlines()[0].split(",")
    assert header[:10] == ["问题编号", "乡镇代码", "户编号", "问题类型", "发现日期", "通报日期", "整改期限", "状态",
                           "整改日期", "是否按期整改"]
    rows = csv_rows(out / "problems.csv")
    assert len(rows) == 7
    m1, m3, m4 = rows[ids["M1"]], rows[ids["M3"]], rows[ids["M4"]]
    assert m1 == {**m1, "户编号": "M1", "乡镇代码": "451302101", "问题类型": "纳而不扶", "发现日期": "2026-10-31",
                  "通报日期": "2026-11-06", "整改期限": "2026-12-09", "状态": "已销号", "整改日期": "2026-12-08",
                  "是否按期整改": "是"}
    assert (m4["状态"], m4["整改期限"], m4["整改日期"], m4["是否按期整改"]) == ("红", "2026-12-09", "", "")
    assert (m3["状态"], m3["整改期限"], m3["整改日期"], m3["是否按期整改"]) == ("已销号", "2026-11-09", "2026-11-12", "否")
    assert rows[ids["V1"]]["状态"] == "红"
    # November's new problems passed their deadline (12-09) unrectified: 黄
    assert sorted(r["状态"] for r in rows.values() if r["通报日期"] == "2026-12-06") == ["黄", "黄"]
    # default --as-of: the bulletin date (6 December), where M1 is still open and red
    assert main(["problems", "--period", NOV, "--out", str(out)]) == 0
    assert csv_rows(out / "problems.csv")[ids["M1"]]["状态"] == "红"


def test_yellow_needs_the_deadline_to_pass(october):
    listed = P.problem_list(october, OCT, as_of=dt.date(2026, 11, 9)).set_index("household_id")
    assert listed.loc["M1", "state"] == "蓝"  # the deadline day itself is still in time
    listed = P.problem_list(october, OCT, as_of=dt.date(2026, 11, 10)).set_index("household_id")
    assert listed.loc["M1", "state"] == "黄" and listed.loc["M1", "status"] == "逾期未整改"
    # not yet notified on an earlier day: not listed
    assert P.problem_list(october, OCT, as_of=dt.date(2026, 11, 5)).empty


def test_problems_command_usage_errors_exit_2(tmp_path, capsys, monkeypatch):
    from fangpin import config
    from fangpin.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["problems", "--period", "2026-13", "--out", str(tmp_path)])
    assert exc.value.code == 2
    monkeypatch.setenv("FANGPIN_DB_URL", "postgresql+psycopg2://fangpin:secret@127.0.0.1:1/none")
    config.reset()
    try:
        assert main(["problems", "--period", OCT, "--out", str(tmp_path)]) == 2
    finally:
        config.reset()
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: 数据库操作失败") and "secret" not in "\n".join(err)
    assert "Traceback" not in "".join(err)
