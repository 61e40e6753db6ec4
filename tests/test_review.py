"""County sample review of decisions (拟纳入 / 拟消除, the 浚县 practice): the share, the recorded
draw, its reproducibility, and the outcomes from the review_results feed."""

from __future__ import annotations

import pandas as pd

from rulecase import build_frames, write_delivery

PERIOD = "2026-10"


def _case(n_in: int, n_out: int) -> dict:
    hh = [{"id": f"N{i:02d}", "category": "监测户", "monitor_type": "边缘易致贫户", "identified_month": PERIOD,
           "risk_eliminated": "否"} for i in range(n_in)]
    hh += [{"id": f"E{i:02d}", "category": "监测户", "monitor_type": "脱贫不稳定户", "identified_month": "2025-11",
            "risk_eliminated": "是", "eliminated_month": PERIOD} for i in range(n_out)]
    hh += [{"id": "OLD", "category": "监测户", "monitor_type": "脱贫不稳定户", "identified_month": "2026-09",
            "risk_eliminated": "否"}, {"id": "GEN"}]
    return {"households": hh}


def test_share_is_rounded_up_per_decision_and_reproducible():
    from fangpin.review import decision_candidates, draw_reviews

    hh = build_frames(_case(10, 11))["households"]
    cands = decision_candidates(hh, PERIOD)
    assert sorted(cands.loc[cands["decision"] == "拟纳入", "household_id"]) == [f"N{i:02d}" for i in range(10)]
    assert len(cands[cands["decision"] == "拟消除"]) == 11  # OLD (identified earlier) and GEN are not new
    drawn = draw_reviews(cands, PERIOD, seed=7, share=0.2)
    counts = drawn["decision"].value_counts().to_dict()
    assert counts == {"拟纳入": 2, "拟消除": 3}          # 20% of 10 exactly; 20% of 11 rounded up
    assert drawn.equals(draw_reviews(cands, PERIOD, seed=7, share=0.2))
    other = draw_reviews(cands, PERIOD, seed=8, share=0.2)
    assert set(other["household_id"]) != set(drawn["household_id"])
    # one new decision: at least one household is reviewed
    one = decision_candidates(build_frames(_case(1, 0))["households"], PERIOD)
    assert len(draw_reviews(one, PERIOD, seed=7, share=0.2)) == 1


def test_review_command_records_the_draw_and_reports_outcomes(db_url, tmp_path, capsys):
    from fangpin import cli
    from fangpin.review import read_review_draw, review_summary
    from fangpin.store import db

    data = write_delivery(tmp_path / PERIOD, _case(10, 5))
    out = tmp_path / "out"
    assert cli.main(["review", "--data", str(data), "--period", PERIOD, "--out", str(out), "--seed", "3"]) == 0
    eng = db.engine(db_url)
    draw = read_review_draw(eng, PERIOD)
    assert draw["decision"].value_counts().to_dict() == {"拟纳入": 2, "拟消除": 1}
    assert set(draw["seed"]) == {3} and set(draw["drawn_on"].dt.date.astype(str)) == {"2026-11-06"}
    csv = pd.read_csv(out / "review_draw.csv", encoding="utf-8-sig", dtype=str)
    assert list(csv.columns[:4]) == ["审核类型", "乡镇代码", "村代码", "户编号"] and len(csv) == 3
    assert "抽查比例 20.00%" in capsys.readouterr().out
    # re-running replaces the period's draw (no duplicates)
    assert cli.main(["review", "--data", str(data), "--period", PERIOD, "--out", str(out), "--seed", "3"]) == 0
    assert len(read_review_draw(eng, PERIOD)) == 3

    # the review results arrive with the next delivery: one accurate, one not, one dated before the draw
    drawn_in = sorted(draw.loc[draw["decision"] == "拟纳入", "household_id"])
    drawn_out = draw.loc[draw["decision"] == "拟消除", "household_id"].iloc[0]
    results = [{"household_id": drawn_in[0], "review_date": "2026-11-20", "conclusion": "认定准确"},
               {"household_id": drawn_out, "review_date": "2026-11-21", "conclusion": "认定不准确",
                "note": "收入核算有误"},
               {"household_id": drawn_in[1], "review_date": "2026-11-05", "conclusion": "认定准确"}]

    nov = write_delivery(tmp_path / "2026-11", _case(10, 5))
    from fangpin import feeds as F

    pd.DataFrame(results).reindex(columns=F.REVIEW_RESULTS.names).rename(
        columns={c.name: c.zh for c in F.REVIEW_RESULTS.columns}).to_csv(
        nov / "review_results.csv", index=False, encoding="utf-8-sig")
    assert cli.main(["load", "--data", str(nov), "--period", "2026-11", "-q"]) == 0
    s = review_summary(eng, PERIOD).set_index("decision")
    assert s.loc["拟纳入"].to_dict() == {"households": 10, "drawn": 2, "share": 0.2, "reviewed": 1, "accurate": 1,
                                        "inaccurate": 0, "pending": 1}
    assert (s.loc["拟消除", "drawn"], s.loc["拟消除", "inaccurate"], s.loc["拟消除", "pending"]) == (1, 1, 0)
    assert s.loc["拟消除", "share"] == 0.2


def test_generated_months_have_decisions_and_the_next_delivery_reviews_the_draw(small_county, sqlite_url, tmp_path):
    """A one-shot generated delivery has new 拟纳入 and 拟消除 decisions of its month, and the next
    month's delivery carries review_results for exactly the households `fangpin review` drew
    (default seed), dated from the draw day: mostly 认定准确."""
    from conftest import SMALL_PERIOD

    from fangpin import pipeline
    from fangpin.generate import generate_county
    from fangpin.periods import Month
    from fangpin.review import decision_candidates, draw_date, read_review_draw, review_summary
    from fangpin.store import db
    from fangpin.store.db import read_feed

    before = str(Month.parse(SMALL_PERIOD).shift(-1))
    prev = generate_county(tmp_path / before, before, households=1500, seed=7)
    eng = db.engine(sqlite_url)
    pipeline.ingest(prev, before, out_dir=None, eng=eng)
    cands = decision_candidates(read_feed(eng, "households", before), before)
    assert cands["decision"].value_counts().min() >= 5 and cands["decision"].nunique() == 2
    pipeline.review_period(before, str(tmp_path / "out"), eng=eng)
    draw = read_review_draw(eng, before)
    assert set(draw["decision"]) == {"拟纳入", "拟消除"}
    pending = review_summary(eng, before)
    assert (pending["reviewed"] == 0).all() and (pending["pending"] == pending["drawn"]).all()

    pipeline.ingest(small_county, SMALL_PERIOD, out_dir=None, eng=eng)
    results = read_feed(eng, "review_results", SMALL_PERIOD)
    assert set(results["household_id"]) == set(draw["household_id"])
    assert (pd.to_datetime(results["review_date"]).dt.date >= draw_date(before)).all()
    s = review_summary(eng, before).set_index("decision")
    assert (s["reviewed"] == s["drawn"]).all() and (s["pending"] == 0).all()
    assert s["accurate"].sum() >= s["inaccurate"].sum()
    now = decision_candidates(read_feed(eng, "households", SMALL_PERIOD), SMALL_PERIOD)
    assert now["decision"].value_counts().min() >= 5


def test_the_review_seed_is_its_own_and_comes_from_the_secret(monkeypatch):
    """The decision review's default seed is derived from the draw secret like the spot-check's,
    but is not the spot-check's: one draw tells nothing about the other."""
    from fangpin import config, review, sample

    monkeypatch.setenv("FANGPIN_DRAW_SECRET", "county-secret-1")
    config.reset()
    first = review.default_seed("2026-10")
    assert first != sample.default_seed("2026-10")
    assert first == review.default_seed("2026-10") and first != review.default_seed("2026-11")
    monkeypatch.setenv("FANGPIN_DRAW_SECRET", "county-secret-2")
    config.reset()
    assert review.default_seed("2026-10") != first
    monkeypatch.delenv("FANGPIN_DRAW_SECRET")
    config.reset()
