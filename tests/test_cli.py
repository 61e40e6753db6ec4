"""The command line end to end: generate + load round-trip, replacing a period, clear errors."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from sqlalchemy import func, select

from fangpin import cli
from fangpin.store import db
from fangpin.store.models import FEED_TABLES

PERIOD = "2026-10"


def _counts(eng, period):
    out = {}
    with eng.connect() as conn:
        for name, t in FEED_TABLES.items():
            out[name] = conn.execute(select(func.count()).select_from(t).where(t.c.period == period)).scalar()
    return out


def test_generate_then_load_round_trips_and_replaces(db_url, small_county, tmp_path, capsys):
    data = tmp_path / PERIOD
    shutil.copytree(small_county, data)
    assert cli.main(["load", "--data", str(data), "--period", PERIOD, "-q"]) == 0
    eng = db.engine(db_url)
    first = _counts(eng, PERIOD)
    assert first["households"] > 1000 and first["members"] > first["households"]

    # what is stored is exactly what the answer key says is good
    bad = pd.read_csv(small_county / "answer_key" / "expected_quarantine.csv", encoding="utf-8-sig")
    raw = pd.read_csv(small_county / "households.csv", encoding="utf-8-sig", dtype=str) \
        if (small_county / "households.csv").exists() else None
    if raw is not None:
        bad_rows = set(bad.loc[bad["数据项"] == "households", "行号"])
        assert first["households"] == len(raw) - len(bad_rows)

    # every household the answer key expects to be screened is stored
    expected = pd.read_csv(small_county / "answer_key" / "expected_screening.csv", encoding="utf-8-sig", dtype=str)
    stored = set(db.read_feed(eng, "households", PERIOD)["household_id"])
    assert set(expected["户编号"]) <= stored

    # loading the same period again replaces it: same counts, no duplicates
    assert cli.main(["load", "--data", str(data), "--period", PERIOD, "-q"]) == 0
    assert _counts(eng, PERIOD) == first


def test_a_failed_load_leaves_the_period_untouched(db_url, small_county, tmp_path, monkeypatch, capsys):
    data = tmp_path / PERIOD
    shutil.copytree(small_county, data)
    assert cli.main(["load", "--data", str(data), "--period", PERIOD, "-q"]) == 0
    eng = db.engine(db_url)
    before = _counts(eng, PERIOD)

    real = db.replace_period
    calls = []

    def failing(conn, feed, period, frame):
        calls.append(feed)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(conn, feed, period, frame)

    monkeypatch.setattr("fangpin.load.replace_period", failing)
    capsys.readouterr()
    assert cli.main(["load", "--data", str(data), "--period", PERIOD, "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disk full" in err and "Traceback" not in err
    assert _counts(eng, PERIOD) == before


def test_unreadable_file_is_named_and_other_feeds_still_load(sqlite_url, small_county, tmp_path, capsys):
    data = tmp_path / PERIOD
    shutil.copytree(small_county, data)
    for f in data.glob("medical.*"):
        f.unlink()
    (data / "medical.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    assert cli.main(["load", "--data", str(data), "--period", PERIOD, "-q"]) == 1
    err = capsys.readouterr().err
    assert "medical.csv" in err
    counts = _counts(db.engine(sqlite_url), PERIOD)
    assert counts["medical"] == 0 and counts["households"] > 0


def test_bad_period_and_missing_folder_are_clear_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["load", "--data", str(tmp_path), "--period", "2026-13"])
    assert "YYYY-MM" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["load", "--data", str(tmp_path / "nope"), "--period", "2026-10"])
    assert "not found" in capsys.readouterr().err


def test_problems_command_on_a_delivery(sqlite_url, small_county, tmp_path):
    """`fangpin problems --data` loads, screens, draws and derives, then writes problems.csv as the
    contract says; its states on the bulletin date are 蓝 (new) or 红 (应纳未纳), none closed."""
    out = tmp_path / "out"
    assert cli.main(["problems", "--data", str(small_county), "--period", PERIOD, "--out", str(out)]) == 0
    raw = (out / "problems.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(out / "problems.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(df.columns[:10]) == ["问题编号", "乡镇代码", "户编号", "问题类型", "发现日期", "通报日期", "整改期限",
                                     "状态", "整改日期", "是否按期整改"]
    assert len(df) > 0 and df["问题编号"].is_unique
    assert set(df["通报日期"]) == {"2026-11-06"} and set(df["整改期限"]) == {"2026-11-09"}
    assert set(df["状态"]) <= {"蓝", "红"} and (df.loc[df["问题类型"] == "应纳未纳", "状态"] == "红").all()
    assert (df["整改日期"] == "").all() and (df["是否按期整改"] == "").all()
    assert df["乡镇代码"].str.fullmatch(r"\d{9}").all()
    # a day after the deadline, the blue ones are yellow; re-running gives no duplicates
    assert cli.main(["problems", "--period", PERIOD, "--out", str(out), "--as-of", "2026-11-10"]) == 0
    later = pd.read_csv(out / "problems.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert len(later) == len(df) and set(later["状态"]) <= {"黄", "红"}
    assert sorted(later["问题编号"]) == sorted(df["问题编号"])
