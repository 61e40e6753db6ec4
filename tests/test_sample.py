"""Phone spot-check draw (data contract section 3) and what the call results become."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from fangpin import sample
from fangpin.ids import PHONE_PATTERN
from fangpin.store import db
from fangpin.store.models import SpotCheckDraw

P = "2026-10"
CONTRACT_HEADERS = ["乡镇代码", "户编号", "户主姓名", "联系电话", "农户类别", "村代码"]
BIG, SMALL, OTHER = "451302100", "451302101", "451302102"


def make_households(spec: dict[str, dict[str, int]]) -> pd.DataFrame:
    """Typed households: spec = {township_code: {category: count}}; two villages per township."""
    rows = []
    for t, cats in spec.items():
        for cat, n in cats.items():
            for _ in range(n):
                i = len(rows)
                rows.append({"household_id": f"4513{t[-3:]}{i:06d}", "village_code": f"{t}{1 + i % 2:03d}",
                             "head_name": f"户主{i}", "head_id_number": "45130219800101001X",
                             "phone": f"139{i:08d}", "declared_size": 1 + i % 6, "category": cat,
                             "income": 6000.0 + i, "last_income": 7000.0, "measures": i % 4})
    df = pd.DataFrame(rows)
    df["township_code"] = df["village_code"].str[:9]
    df["source_row"] = np.arange(2, len(df) + 2)
    return df


def regions_for(households: pd.DataFrame) -> pd.DataFrame:
    towns = sorted(households["township_code"].unique())
    villages = sorted(households["village_code"].unique())
    df = pd.DataFrame({"code": towns + villages,
                       "name": [f"{t[-3:]}镇" for t in towns] + [f"{v[-5:]}村" for v in villages],
                       "level": ["乡镇"] * len(towns) + ["村"] * len(villages)})
    df["township_code"] = df["code"].str[:9]
    df["source_row"] = np.arange(2, len(df) + 2)
    return df


def load(eng, period: str, households: pd.DataFrame, results: pd.DataFrame | None = None) -> None:
    with eng.begin() as conn:
        db.replace_period(conn, "regions", period, regions_for(households))
        db.replace_period(conn, "households", period, households)
        if results is not None:
            db.replace_period(conn, "spot_check_results", period, results)


def drawn_ids(frame: pd.DataFrame, township: str | None = None) -> set[str]:
    if township is not None:
        frame = frame[frame["township_code"] == township]
    return set(frame["household_id"])


MIXED = {BIG: {"脱贫户": 30, "监测户": 25, "一般农户": 40}, SMALL: {"脱贫户": 7, "监测户": 5, "一般农户": 60}}


# ---- the pure draw -----------------------------------------------------------------------

def test_draw_counts_per_township_and_eligibility():
    hh = make_households(MIXED)
    d = sample.draw(hh, P, seed=1, recent=set(), per_township=30)
    assert d.groupby("township_code").size().to_dict() == {BIG: 30, SMALL: 12}
    assert set(d["category"]) <= {"脱贫户", "监测户"}
    # a township with fewer than 30 eligible: every one of them, and no 一般农户 to fill up
    small_eligible = hh[(hh["township_code"] == SMALL) & hh["category"].isin(["脱贫户", "监测户"])]
    assert drawn_ids(d, SMALL) == set(small_eligible["household_id"])
    assert d["household_id"].is_unique
    for _, g in d.groupby("township_code"):
        assert sorted(g["position"]) == list(range(1, len(g) + 1))
    assert not d["was_recent"].any()


def test_draw_is_reproducible_and_ignores_row_order():
    hh = make_households(MIXED)
    a = sample.draw(hh, P, seed=5, recent=set(), per_township=30)
    shuffled = hh.sample(frac=1, random_state=3).reset_index(drop=True)
    b = sample.draw(shuffled, P, seed=5, recent=set(), per_township=30)
    cols = ["township_code", "household_id", "position"]
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))


def test_draw_differs_across_periods_and_seeds():
    hh = make_households(MIXED)
    base = drawn_ids(sample.draw(hh, P, 5, set(), 30), BIG)
    assert drawn_ids(sample.draw(hh, "2026-11", 5, set(), 30), BIG) != base
    assert drawn_ids(sample.draw(hh, P, 6, set(), 30), BIG) != base
    # the small township is drawn whole whatever the period
    small_nov = drawn_ids(sample.draw(hh, "2026-11", 5, set(), 30), SMALL)
    assert small_nov == drawn_ids(sample.draw(hh, P, 5, set(), 30), SMALL)


def test_draw_does_not_depend_on_python_hash_randomisation():
    hh = make_households(MIXED)
    here = sorted(sample.draw(hh, P, 9, set(), 30)["household_id"])
    code = ("import sys, json; sys.path.insert(0, 'tests'); from test_sample import *; "
            "print(json.dumps(sorted(sample.draw(make_households(MIXED), P, 9, set(), 30)['household_id'])))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout
    assert json.loads(out) == here


def test_removing_one_household_does_not_reshuffle_its_township():
    hh = make_households(MIXED)
    full = sample.draw(hh, P, 4, set(), 30)
    gone = full[full["township_code"] == BIG]["household_id"].iloc[0]
    rest = sample.draw(hh[hh["household_id"] != gone], P, 4, set(), 30)
    # the household's place goes to the next one by key; the other 29 stay drawn
    assert len(drawn_ids(rest, BIG)) == 30 and len(drawn_ids(full, BIG) & drawn_ids(rest, BIG)) == 29
    assert gone not in drawn_ids(rest)


def test_draw_prefers_households_not_recently_drawn():
    hh = make_households({BIG: {"脱贫户": 50}})
    ids = sorted(hh["household_id"])
    # 20 recent out of 50: 30 others remain, so no recent household is drawn
    d = sample.draw(hh, P, 1, set(ids[:20]), 30)
    assert drawn_ids(d).isdisjoint(ids[:20]) and len(d) == 30
    # 35 recent: the 15 others are all drawn, topped up with 15 recent ones (flagged)
    recent = set(ids[:35])
    d = sample.draw(hh, P, 1, recent, 30)
    assert len(d) == 30 and set(ids[35:]) <= drawn_ids(d)
    assert d["was_recent"].sum() == 15 and set(d.loc[d["was_recent"], "household_id"]) <= recent
    # fresh households take the first positions
    assert not d.sort_values("position")["was_recent"].iloc[:15].any()


# ---- the draw on the database ------------------------------------------------------------

def test_run_sample_writes_contract_csv_and_records_the_draw(db_url, tmp_path):
    eng = db.engine(db_url)
    hh = make_households(MIXED)
    load(eng, P, hh)
    out = sample.run_sample(eng, P, tmp_path)

    raw = (tmp_path / "spot_check.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    csv = pd.read_csv(tmp_path / "spot_check.csv", encoding="utf-8-sig", dtype=str)
    assert list(csv.columns[:6]) == CONTRACT_HEADERS
    assert csv.groupby("乡镇代码").size().to_dict() == {BIG: 30, SMALL: 12}
    by_id = hh.set_index("household_id")
    assert (csv["联系电话"] == csv["户编号"].map(by_id["phone"])).all()  # full phone, not masked
    assert (csv["村代码"] == csv["户编号"].map(by_id["village_code"])).all()
    assert (csv["村代码"].str[:9] == csv["乡镇代码"]).all()
    assert len(out) == len(csv)

    draws = sample.read_draws(eng, [P])
    assert set(draws["household_id"]) == set(csv["户编号"])
    # the seed comes from the configured secret and the period, recorded with the draw and in the CSV
    assert (draws["seed"] == sample.default_seed(P)).all() and (csv["随机种子"] == str(sample.default_seed(P))).all()
    # dated the draw day at the start of the month, never the machine clock
    assert set(pd.to_datetime(draws["drawn_at"])) == {pd.Timestamp("2026-10-01")}


def test_rerun_replaces_the_period_draw(db_url, tmp_path):
    eng = db.engine(db_url)
    load(eng, P, make_households(MIXED))
    first = sample.run_sample(eng, P, tmp_path, seed=11)
    again = sample.run_sample(eng, P, tmp_path, seed=11)
    assert first["户编号"].tolist() == again["户编号"].tolist()  # same data, period, seed
    other = sample.run_sample(eng, P, tmp_path, seed=12)
    with eng.connect() as conn:
        n = conn.execute(select(func.count()).select_from(SpotCheckDraw).where(SpotCheckDraw.period == P)).scalar()
    assert n == 42
    draws = sample.read_draws(eng, [P])
    assert set(draws["seed"]) == {12} and set(draws["household_id"]) == set(other["户编号"])


def test_three_period_exclusion(db_url, tmp_path):
    eng = db.engine(db_url)
    # BIG has 150 eligible (enough for four disjoint draws), SMALL 100 (only 10 fresh left in P4)
    hh = make_households({BIG: {"脱贫户": 150}, SMALL: {"监测户": 100}})
    periods = ["2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    drawn = {}
    for p in periods:
        load(eng, p, hh)
        frame = sample.run_sample(eng, p, tmp_path / p, seed=3)
        drawn[p] = {t: set(g["户编号"]) for t, g in frame.groupby("乡镇代码")}
    first3 = {t: set().union(*(drawn[p][t] for p in periods[:3])) for t in (BIG, SMALL)}
    assert len(first3[BIG]) == 90 and len(first3[SMALL]) == 90  # P1..P3 pairwise disjoint
    # P4: enough others in BIG -> none of the previous three draws
    assert drawn["2026-10"][BIG].isdisjoint(first3[BIG]) and len(drawn["2026-10"][BIG]) == 30
    # SMALL: all 10 never-drawn households, topped up with 20 recent ones
    fresh_small = set(hh.loc[hh["township_code"] == SMALL, "household_id"]) - first3[SMALL]
    assert fresh_small <= drawn["2026-10"][SMALL] and len(drawn["2026-10"][SMALL]) == 30
    csv = pd.read_csv(tmp_path / "2026-10" / "spot_check.csv", encoding="utf-8-sig", dtype=str)
    assert (csv["前期已抽"] == "是").sum() == 20
    # P5 looks back at P2..P4 only: P1's households are eligible again, P2..P4's are avoided in BIG
    recent_big = set().union(*(drawn[p][BIG] for p in periods[1:4]))
    assert drawn["2026-11"][BIG].isdisjoint(recent_big) and len(drawn["2026-11"][BIG]) == 30


# ---- call results ------------------------------------------------------------------------

def results_frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["household_id", "check_date", "answered", "consistent", "assisted", "remark"])
    df["check_date"] = pd.to_datetime(df["check_date"])
    df["source_row"] = np.arange(2, len(df) + 2)
    return df


@pytest.fixture
def called(db_url, tmp_path):
    """Draws for 2026-09 and 2026-10 and a set of 2026-10 call results; returns (eng, ids)."""
    eng = db.engine(db_url)
    hh = make_households({BIG: {"脱贫户": 70}, SMALL: {"监测户": 12}, OTHER: {"监测户": 5, "一般农户": 3}})
    load(eng, "2026-09", hh)
    prev = sample.run_sample(eng, "2026-09", tmp_path / "09")
    load(eng, P, hh)
    cur = sample.run_sample(eng, P, tmp_path / "10")
    big = cur.loc[cur["乡镇代码"] == BIG, "户编号"].tolist()
    small = cur.loc[cur["乡镇代码"] == SMALL, "户编号"].tolist()
    prev_only = sorted(set(prev.loc[prev["乡镇代码"] == BIG, "户编号"]) - set(cur["户编号"]))
    never = sorted(set(hh.loc[hh["township_code"] == BIG, "household_id"]) - set(cur["户编号"]) - set(prev["户编号"]))
    ids = {"pass": big[0], "unanswered": big[1], "inconsistent": big[2], "unassisted": big[3], "both": big[4],
           "retried": big[5], "prev": prev_only[0], "never": never[0], "small_pass": small[0],
           "small_fail": small[1]}
    results = results_frame([
        (ids["pass"], "2026-10-08", "是", "是", "是", None),
        (ids["unanswered"], "2026-10-08", "否", "否", "否", "三次未接通"),
        (ids["inconsistent"], "2026-10-09", "是", "否", "是", "实际家庭人口5人"),
        (ids["unassisted"], "2026-10-09", "是", "是", "否", "新号码13812345678，产业奖补未到位"),
        (ids["both"], "2026-10-10", "是", "否", "否", None),
        (ids["retried"], "2026-10-08", "否", "否", "否", None),
        (ids["retried"], "2026-10-12", "是", "是", "是", "第二次接通"),
        (ids["prev"], "2026-10-02", "是", "否", "是", "补打上月名单"),
        (ids["never"], "2026-10-11", "是", "否", "否", "不在名单"),
        (ids["small_pass"], "2026-10-11", "是", "是", "是", None),
        (ids["small_fail"], "2026-10-11", "否", "否", "否", None),
    ])
    load(eng, P, hh, results)
    return eng, ids, hh


def test_call_results_become_problems(called):
    eng, ids, hh = called
    probs = sample.spot_check_problems(eng, P).set_index("household_id")
    assert set(probs.index) == {ids[k] for k in ("unanswered", "inconsistent", "unassisted", "both", "small_fail")}
    assert (probs["problem_type"] == "电话抽查不符").all()
    detail = probs["detail"]
    assert "电话未接通" in detail[ids["unanswered"]] and "信息不一致" not in detail[ids["unanswered"]]
    assert "三次未接通" in detail[ids["unanswered"]] and "2026-10-08" in detail[ids["unanswered"]]
    assert "信息不一致" in detail[ids["inconsistent"]] and "帮扶未落实" not in detail[ids["inconsistent"]]
    assert "帮扶未落实" in detail[ids["unassisted"]] and "产业奖补未到位" in detail[ids["unassisted"]]
    assert "信息不一致" in detail[ids["both"]] and "帮扶未落实" in detail[ids["both"]]
    assert not detail.str.contains(PHONE_PATTERN).any()  # the remark's phone number is masked
    assert set(probs["draw_period"]) == {P}  # a call of October belongs to October's draw only
    by_id = hh.set_index("household_id")
    assert (probs["village_code"] == by_id.loc[probs.index, "village_code"]).all()
    assert (probs["township_code"] == by_id.loc[probs.index, "township_code"]).all()
    assert probs.loc[ids["inconsistent"], "found_on"] == pd.Timestamp("2026-10-09").date()


def test_results_for_households_not_drawn_are_reported(called):
    eng, ids, _ = called
    unexpected = sample.unexpected_results(eng, P).set_index("household_id")
    # a household never drawn, and one on September's list only (calls of October match October's draw)
    assert set(unexpected.index) == {ids["never"], ids["prev"]}
    assert set(unexpected["township_code"]) == {BIG}
    assert set(unexpected["reason"]) == {sample.NOT_DRAWN_REASON}


def test_pass_rates_per_township(called):
    eng, _, _ = called
    rates = sample.pass_rates(eng, P).set_index("township_code")
    assert rates.loc[BIG, ["drawn", "called", "answered", "passed", "not_drawn_results"]].tolist() == [30, 6, 5, 2, 2]
    assert rates.loc[BIG, "pass_rate"] == pytest.approx(2 / 6)
    assert rates.loc[SMALL, ["drawn", "called", "answered", "passed"]].tolist() == [12, 2, 1, 1]
    assert rates.loc[SMALL, "pass_rate"] == pytest.approx(0.5)
    assert rates.loc[OTHER, "drawn"] == 5 and rates.loc[OTHER, "called"] == 0
    assert np.isnan(rates.loc[OTHER, "pass_rate"])
    assert rates.loc[SMALL, "township_name"] == "101镇"


def test_empty_period(db_url, tmp_path):
    eng = db.engine(db_url)
    out = sample.run_sample(eng, P, tmp_path)
    assert out.empty
    csv = pd.read_csv(tmp_path / "spot_check.csv", encoding="utf-8-sig")
    assert list(csv.columns[:6]) == CONTRACT_HEADERS and csv.empty
    assert sample.spot_check_problems(eng, P).empty
    assert sample.unexpected_results(eng, P).empty
    assert sample.pass_rates(eng, P).empty


def test_generated_calls_are_for_the_households_drawn(sqlite_url, small_county, tmp_path):
    """The generator phones the households `fangpin sample` draws, so on a generated county every
    call to a 脱贫户/监测户 matches the draw and only the planted calls to 一般农户 do not."""
    from fangpin import pipeline

    pipeline.ingest(small_county, "2026-10", out_dir=tmp_path / "out", build_docs=False)
    pipeline.sample_period("2026-10", str(tmp_path / "out"))
    eng = db.engine(sqlite_url)
    results = db.read_feed(eng, "spot_check_results", "2026-10")
    hh = db.read_feed(eng, "households", "2026-10").set_index("household_id")
    unexpected = sample.unexpected_results(eng, "2026-10")
    assert 1 <= len(unexpected) <= 2
    assert set(hh["category"].reindex(unexpected["household_id"])) == {"一般农户"}
    rates = sample.pass_rates(eng, "2026-10")
    assert rates["called"].sum() == len(results) - len(unexpected) > 0
    failed = sample.spot_check_problems(eng, "2026-10")
    assert 0 < len(failed) < rates["called"].sum()


# ---- the calendar: secret seeds, draw dates, calls before the draw -------------------------

def _with_params(tmp_path, monkeypatch, name: str, value) -> None:
    """Runs the test with one dated parameter overridden from 2026-01-01."""
    import datetime as dt

    import yaml

    from fangpin import config
    from fangpin.params import DEFAULT_FILE

    spec = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    spec[name]["values"]["*"][dt.date(2026, 1, 1)] = {"value": value, "reference": "测试用"}
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("FANGPIN_PARAMS_FILE", str(f))
    config.reset()


def test_seed_comes_from_the_secret_and_the_recorded_seed_reproduces_the_draw(db_url, tmp_path, monkeypatch,
                                                                              caplog):
    from fangpin import config

    eng = db.engine(db_url)
    load(eng, P, make_households({BIG: {"脱贫户": 200}}))
    monkeypatch.setenv("FANGPIN_DRAW_SECRET", "county-secret-1")
    config.reset()
    seed = sample.default_seed(P)
    assert seed == sample.default_seed(P) and seed != sample.default_seed("2026-11")  # per period
    assert seed not in (202610, 20261001)                                           # not guessable
    drawn = sample.run_sample(eng, P, tmp_path / "a")
    assert set(sample.read_draws(eng, [P])["seed"]) == {seed}

    # a township without the secret cannot compute it; a different secret gives another draw
    monkeypatch.setenv("FANGPIN_DRAW_SECRET", "someone-else")
    config.reset()
    assert sample.default_seed(P) != seed
    other = sample.run_sample(eng, P, tmp_path / "b")
    assert set(other["户编号"]) != set(drawn["户编号"])
    # an auditor reproduces the draw from the recorded seed alone
    audit = sample.run_sample(eng, P, tmp_path / "c", seed=seed)
    assert audit["户编号"].tolist() == drawn["户编号"].tolist()
    # the bulletin keeps the recorded seed of a month already drawn
    again = sample.run_sample(eng, P, tmp_path / "d", keep_recorded=True)
    assert again["户编号"].tolist() == drawn["户编号"].tolist()

    # unset: the documented demo secret, with a warning
    monkeypatch.delenv("FANGPIN_DRAW_SECRET")
    config.reset()
    with caplog.at_level("WARNING"):
        assert sample.default_seed(P) == sample.default_seed(P, secret=config.DEMO_DRAW_SECRET)
    assert "FANGPIN_DRAW_SECRET" in caplog.text


def test_draw_is_dated_its_draw_day_and_calls_before_it_are_not_matched(db_url, tmp_path, monkeypatch):
    _with_params(tmp_path, monkeypatch, "sample.draw_day", 5)
    eng = db.engine(db_url)
    hh = make_households({BIG: {"脱贫户": 40}})
    load(eng, P, hh)
    drawn = sample.run_sample(eng, P, tmp_path)
    assert sample.draw_date(P) == pd.Timestamp("2026-10-05").date()
    assert set(pd.to_datetime(sample.read_draws(eng, [P])["drawn_at"])) == {pd.Timestamp("2026-10-05")}
    early, ok = drawn["户编号"].iloc[0], drawn["户编号"].iloc[1]
    load(eng, P, hh, results_frame([(early, "2026-10-03", "是", "否", "是", "抽取前已打"),
                                    (ok, "2026-10-06", "是", "否", "是", None)]))
    probs = sample.spot_check_problems(eng, P)
    assert probs["household_id"].tolist() == [ok]
    unexpected = sample.unexpected_results(eng, P)
    assert unexpected["household_id"].tolist() == [early]
    assert unexpected["reason"].iloc[0] == sample.BEFORE_DRAW_REASON.format(drawn="2026-10-05")
    rates = sample.pass_rates(eng, P).set_index("township_code")
    assert rates.loc[BIG, ["called", "not_drawn_results"]].tolist() == [1, 1]


def test_draw_uses_the_latest_delivery_loaded_and_re_runs_keep_it(db_url, tmp_path):
    """November's draw is made on 1 November, before November's delivery exists: it draws from the
    latest delivery loaded (October's) and records it; re-drawing with keep_recorded once November
    is loaded gives the same list. `fangpin sample` on a loaded month draws from that month."""
    eng = db.engine(db_url)
    sep = make_households({BIG: {"脱贫户": 40}})
    octo = sep.assign(household_id=sep["household_id"] + "X")  # another registry
    nov = sep.assign(household_id=sep["household_id"] + "Y")
    load(eng, "2026-09", sep)
    load(eng, "2026-10", octo)
    first = sample.run_sample(eng, "2026-11", tmp_path)
    assert set(first["户编号"]) <= set(octo["household_id"])
    assert set(sample.read_draws(eng, ["2026-11"])["basis_period"]) == {"2026-10"}
    load(eng, "2026-11", nov)  # November's delivery arrives later: the recorded draw does not change
    again = sample.run_sample(eng, "2026-11", tmp_path, keep_recorded=True)
    assert again["户编号"].tolist() == first["户编号"].tolist()
    own = sample.run_sample(eng, "2026-11", tmp_path)
    assert set(own["户编号"]) <= set(nov["household_id"])
