"""The living demo county (fangpin.generate.living): several consecutive months on one database,
driven in the order scripts/run_month.py uses (its `calendar`), without Airflow: every week's
township feedback reacts only to what the system had sent by then, and the registry evolves.

The system's stages run in-process (ingest, screening, draw, problems). On a branch whose
weekly ingest is not there, the weekly folders are checked as files against the system's
tables (pushes, problems, draws), which is what the generator reads."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from fangpin.periods import Month, Week, parse_date

REPO = Path(__file__).resolve().parents[1]
MONTHS = ["2026-07", "2026-08", "2026-09"]
HOUSEHOLDS, SEED = 900, 5


def _calendar():
    spec = importlib.util.spec_from_file_location("run_month", REPO / "scripts" / "run_month.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.calendar


def _month_cycle(root: Path, eng, period: str, bulletin: bool = True) -> None:
    from fangpin import pipeline as P
    from fangpin.generate.living import generate_month

    generate_month(root / "in", period, eng, households=HOUSEHOLDS, seed=SEED)
    out = root / "out" / period
    P.ingest(root / "in" / period, period, out, eng=eng, build_docs=False)
    P.screen_period(period, str(out), eng=eng)
    if bulletin:
        P.sample_period(period, str(out), eng=eng, keep_recorded=True)
        P.review_period(period, str(out), eng=eng)   # the decision review draw, after ingest
        P.derive_problems(period, eng=eng)


@pytest.fixture(scope="module")
def living(tmp_path_factory):
    """Three months (and the month before, as the starting state) of a 900-household county."""
    from fangpin import config
    from fangpin.generate.living import generate_week
    from fangpin.store import db

    root = tmp_path_factory.mktemp("living")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FANGPIN_DB_URL", f"sqlite:///{root / 'fangpin.db'}")
        mp.setenv("FANGPIN_HOME", str(root / "home"))
        config.reset()
        eng = db.engine()
        _month_cycle(root, eng, str(Month.parse(MONTHS[0]).shift(-1)), bulletin=False)
        weeks = []
        from fangpin import pipeline as P

        for _, kind, period in _calendar()(MONTHS, True, "no"):
            if kind == "draw":  # the draw of month M is made and dated at the start of M
                P.sample_period(period, str(root / "out" / period), eng=eng)
            elif kind == "week":  # the townships' feedback of the week, ingested by the weekly run
                generate_week(root / "in", period, eng, seed=SEED, households=HOUSEHOLDS)
                P.ingest_week(period, root / "in" / "weekly" / period, eng=eng)
                P.weekly_feedback(period, eng=eng)
                weeks.append(period)
            elif kind == "month":
                _month_cycle(root, eng, period)
        yield {"root": root, "eng": eng, "weeks": weeks}
        eng.dispose()
    config.reset()


def _rows(root: Path, feed: str, weeks: list[str]) -> pd.DataFrame:
    """The weekly rows of a feed, with their week, dates parsed; rows the answer key lists as
    defective are left out (they are quarantined)."""
    from fangpin.feeds import DATE, feed as feed_of
    from fangpin.read import read_feed

    frames = []
    for w in weeks:
        folder = root / "in" / "weekly" / w
        found = list(folder.glob(f"{feed}.*"))
        if not found:
            continue
        f = read_feed(found[0], feed).frame
        key = pd.read_csv(folder / "answer_key" / "expected_quarantine.csv", encoding="utf-8-sig")
        bad = set(key.loc[key["数据项"] == feed, "行号"])
        f = f[~f["source_row"].isin(bad)].assign(week=w)
        date_col = next(c.name for c in feed_of(feed).columns if c.kind == DATE)
        f[date_col] = [parse_date(v) for v in f[date_col]]
        frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _table(eng, sql: str) -> pd.DataFrame:
    with eng.connect() as c:
        return pd.read_sql(sql, c)


def test_weekly_rows_are_dated_in_their_week_and_defects_are_listed(living):
    root, weeks = living["root"], living["weeks"]
    lines = 0
    for w in weeks:
        week = Week.parse(w)
        folder = root / "in" / "weekly" / w
        assert (folder / "inspections.csv").is_file(), w  # villages visit every week
        lines += len(pd.read_csv(folder / "answer_key" / "expected_quarantine.csv", encoding="utf-8-sig"))
        for feed in ("inspections", "verifications", "spot_check_results", "rectifications"):
            rows = _rows(root, feed, [w])
            if len(rows):
                date_col = [c for c in rows.columns if c.endswith("_date")][0]
                assert rows[date_col].between(week.start, week.end).all(), (w, feed)
    assert lines > 0, "no defective rows: quarantine would never appear"


def test_verifications_on_time_late_and_never(living):
    from fangpin.generate.living import sent_pushes

    eng, root, weeks = living["eng"], living["root"], living["weeks"]
    last_day = Week.parse(weeks[-1]).end
    pushes = sent_pushes(eng, last_day)
    ver = _rows(root, "verifications", weeks)
    assert len(pushes) > 50 and len(ver) > 30
    # every verification answers a push sent before it
    first_push = pushes.groupby("household_id")["pushed_on"].min()
    assert ver["household_id"].isin(first_push.index).all()
    assert (ver["verify_date"].to_numpy() >= first_push.reindex(ver["household_id"]).to_numpy()).all()
    # judged per push: the first verification on or after the push
    judged = pushes[[d + dt.timedelta(days=40) <= last_day for d in pushes["verify_by"]]]
    outcome = []
    for p in judged.itertuples(index=False):
        days = ver.loc[(ver["household_id"] == p.household_id) & (ver["verify_date"] >= p.pushed_on), "verify_date"]
        outcome.append("never" if days.empty else "on_time" if days.min() <= p.verify_by else "late")
    counts = pd.Series(outcome).value_counts()
    assert counts.get("on_time", 0) > counts.get("late", 0) > 0, counts
    assert counts.get("never", 0) > 0, counts
    assert counts["on_time"] / counts.sum() > 0.6, counts


def test_rectifications_name_issued_problems_on_time_late_and_never(living):
    from fangpin.generate.living import issued_problems

    eng, root, weeks = living["eng"], living["root"], living["weeks"]
    last_day = Week.parse(weeks[-1]).end
    problems = issued_problems(eng, last_day).set_index("problem_id")
    rect = _rows(root, "rectifications", weeks)
    assert len(rect) > 20
    assert rect["problem_id"].isin(problems.index).all(), "a rectification names a 问题编号 never issued"
    issued = problems["issued_on"].reindex(rect["problem_id"]).to_numpy()
    assert (rect["rectify_date"].to_numpy() >= issued).all(), "a rectification dated before its bulletin"
    first = rect.groupby("problem_id")["rectify_date"].min()
    # problems of the first bulletin have had five weeks: every behaviour shows
    old = problems[[d + dt.timedelta(days=33) <= last_day for d in problems["issued_on"]]]
    due = old["issued_on"] + pd.Timedelta(days=3)
    done = first.reindex(old.index)
    on_time = (done.notna() & (done <= due)).sum()
    late = (done.notna() & (done > due)).sum()
    never = done.isna().sum()
    assert on_time > late > 0 and never > 0, (on_time, late, never)


def test_calls_follow_the_draw(living):
    from fangpin.generate.living import CALL_DAYS, drawn_households

    eng, root, weeks = living["eng"], living["root"], living["weeks"]
    last_day = Week.parse(weeks[-1]).end
    draws = drawn_households(eng, last_day)
    calls = _rows(root, "spot_check_results", weeks)
    assert len(draws) > 100 and len(calls) > 50
    latest_draw = draws.groupby("household_id")["drawn_on"].min()
    drawn = calls["household_id"].isin(latest_draw.index)
    assert drawn.mean() > 0.9 and (~drawn).sum() > 0, "calls should be mostly, not only, for drawn households"
    assert (calls.loc[drawn, "check_date"].to_numpy()
            >= latest_draw.reindex(calls.loc[drawn, "household_id"]).to_numpy()).all(), "a call before its draw"
    complete = draws[[d + dt.timedelta(days=CALL_DAYS) <= last_day for d in draws["drawn_on"]]]
    assert len(complete) and complete["household_id"].isin(calls["household_id"]).mean() > 0.97


def test_registry_evolves_into_unassisted_and_irregular_elimination(living):
    eng = living["eng"]
    problems = _table(eng, "SELECT period, problem_type FROM problems")
    types = set(problems["problem_type"])
    assert {"纳而不扶", "消除不规范"} <= types, types
    from fangpin.read import read_feed

    delivered = [set(read_feed(living["root"] / "in" / m / "households.csv", "households").frame["household_id"])
                 for m in MONTHS]
    assert delivered[0] == delivered[1] == delivered[2], "the same county every month"
    hh = _table(eng, "SELECT period, household_id, category, identified_month FROM households")
    periods = sorted(set(hh["period"]))
    monitored = hh[hh["category"] == "监测户"].groupby("period").size()
    assert monitored[periods[-1]] > monitored[periods[0]], "nobody verified as 纳入监测 became 监测户"
    new = hh[(hh["period"] == periods[-1]) & (hh["identified_month"] >= MONTHS[0])]
    assert len(new) > 0


def test_same_seed_same_bytes(living, tmp_path):
    """Re-generating an early week and a month later, on the database as it is at the end, gives
    the same bytes: each looks only at what had been sent by its own date."""
    from fangpin.generate.living import generate_month, generate_week

    eng, root, weeks = living["eng"], living["root"], living["weeks"]

    def digest(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    again = tmp_path / "again"
    for w in (weeks[5], weeks[-2]):
        generate_week(again, w, eng, seed=SEED, households=HOUSEHOLDS)
        assert digest(again / "weekly" / w) == digest(root / "in" / "weekly" / w), w
    generate_month(again, MONTHS[1], eng, households=HOUSEHOLDS, seed=SEED)
    assert digest(again / MONTHS[1]) == digest(root / "in" / MONTHS[1])
    other = tmp_path / "other"
    generate_week(other, weeks[-2], eng, seed=SEED + 1, households=HOUSEHOLDS)
    assert digest(other / "weekly" / weeks[-2]) != digest(root / "in" / "weekly" / weeks[-2])


def test_monthly_delivery_leaves_feedback_to_the_weeks(living):
    folder = living["root"] / "in" / MONTHS[0]
    names = {p.stem for p in folder.iterdir() if p.is_file()}
    assert {"regions", "households", "members", "medical"} <= names
    assert not names & {"inspections", "verifications", "spot_check_results", "rectifications"}


def test_readers_and_week_on_both_backends(db_url, tmp_path):
    """The three readers and generate_week on SQLite and PostgreSQL, from rows the system would
    have stored: only what was sent by the week's Sunday is answered."""
    from sqlalchemy import insert

    from fangpin.config import settings
    from fangpin.generate import living
    from fangpin.read import read_feed
    from fangpin.store import db
    from fangpin.store.models import Problem, ScreeningResult, SpotCheckDraw

    eng = db.engine(db_url)
    hh = living._county(SEED, 300, 2026, settings().county_code).hh
    ids, towns = hh["household_id"].tolist(), hh["township_code"].tolist()
    week = Week.parse("2026-W37")  # 2026-09-07 .. 09-13
    sent, later = dt.date(2026, 9, 6), dt.date(2026, 9, 14)
    with eng.begin() as c:
        c.execute(insert(ScreeningResult), [
            dict(period="2026-08" if i < 60 else "2026-09", household_id=ids[i], township_code=towns[i],
                 village_code=ids[i][:12], rules="R01", risk_level="高", already_monitored=i % 10 == 0,
                 explanation="-", first_seen="2026-08", status="新增疑似",
                 pushed_on=sent if i < 60 else later, verify_by=(sent if i < 60 else later) + dt.timedelta(days=15))
            for i in range(80)])
        c.execute(insert(Problem), [
            dict(problem_id=f"HSCQ-202608-{i:08X}", period="2026-08" if i < 40 else "2026-09", problem_type="核实超期",
                 township_code=towns[i], village_code=ids[i][:12], household_id=ids[i], detail="-",
                 found_on=dt.date(2026, 8, 31), deadline=dt.date(2026, 9, 9), closed_on=None) for i in range(50)])
        c.execute(insert(SpotCheckDraw), [
            dict(period="2026-09", household_id=ids[i], township_code=towns[i], seed=1, position=i,
                 drawn_at=dt.datetime(2026, 9, 1, 7, 0)) for i in range(100, 160)])

    pushes = living.sent_pushes(eng, week.end)
    assert len(pushes) == 54 and set(pushes["period"]) == {"2026-08"}  # not monitored, sent by Sunday
    problems = living.issued_problems(eng, week.end)
    assert len(problems) == 40 and set(problems["issued_on"]) == {sent}
    draws = living.drawn_households(eng, week.end)
    assert len(draws) == 60 and set(draws["drawn_on"]) == {dt.date(2026, 9, 1)}

    folder = living.generate_week(tmp_path, str(week), eng, seed=SEED, households=300)

    def read(feed):
        path = folder / f"{feed}.csv"
        return read_feed(path, feed).frame if path.is_file() else pd.DataFrame(columns=["household_id", "problem_id"])

    assert set(read("verifications")["household_id"]) <= set(pushes["household_id"])
    assert set(read("rectifications")["problem_id"]) <= set(problems["problem_id"])
    assert len(read("rectifications")) > 10  # most of 40 problems issued on the 6th, due the 9th
    calls = read("spot_check_results")
    assert len(calls) and calls["household_id"].isin(draws["household_id"]).mean() > 0.8
    eng.dispose()


def test_every_month_has_decisions_and_the_next_delivery_reviews_the_draw(living):
    """Every month has new 拟纳入 and 拟消除 decisions to draw; the next month's delivery brings a
    review result (mostly 认定准确) for every household drawn, dated from the draw."""
    from fangpin.review import read_review_draw, review_summary
    from fangpin.store.db import read_feed

    eng = living["eng"]
    results = []
    for i, m in enumerate(MONTHS):
        draw = read_review_draw(eng, m)
        assert set(draw["decision"]) == {"拟纳入", "拟消除"}, (m, draw["decision"].value_counts())
        s = review_summary(eng, m).set_index("decision")
        if i < len(MONTHS) - 1:
            assert (s["drawn"] > 0).all() and (s["reviewed"] == s["drawn"]).all(), (m, s)
            got = read_feed(eng, "review_results", MONTHS[i + 1])
            assert set(got["household_id"]) == set(draw["household_id"]), m
            on = got["household_id"].map(draw.drop_duplicates("household_id").set_index("household_id")["drawn_on"])
            assert (pd.to_datetime(got["review_date"]) >= on).all()
            results.append(got)
        else:  # drawn on the day the last month was ingested: no result yet
            assert (s["reviewed"] == 0).all() and (s["pending"] == s["drawn"]).all()
    conclusions = pd.concat(results)["conclusion"].value_counts()
    assert conclusions["认定准确"] > conclusions.get("认定不准确", 0)


def test_living_month_matches_its_audit_answer_key(living):
    """The registry audit of a living month flags exactly the households of its expected_audit.csv,
    with every check planted."""
    from fangpin import audit

    eng, root = living["eng"], living["root"]
    m = MONTHS[-1]
    result = audit.audit(audit.load_frames(eng, m), m)
    key = pd.read_csv(root / "in" / m / "answer_key" / "expected_audit.csv", encoding="utf-8-sig", dtype=str,
                      keep_default_na=False)
    assert dict(zip(result.flagged["household_id"], result.flagged["checks"])) == dict(zip(key["户编号"],
                                                                                          key["核查规则"]))
    planted = set(";".join(key["埋设规则"]).split(";")) - {""}
    assert planted == set(audit.CHECKS)

