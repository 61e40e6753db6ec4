"""Messy exports and safe loads (data contract section 1, "Messy exports" and "Loading a delivery
safely"): every case of the corpus in tests/messy/builder.py ends in its exact outcome — rows
accepted after normalisation, quarantined with which reason, file rejected with which message —
rows in = accepted + quarantined, no good row lost; loads are atomic, serialised and held when
the registry shrinks; exit statuses 0/1/2 with one-line messages."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fangpin import cli
from fangpin import feeds as F
from fangpin.ids import id_problem
from fangpin.quality import checks as C
from fangpin.quality import normalise as N
from fangpin.store import db
from fangpin.store.models import FEED_TABLES
from messy import builder as B
from messy.builder import PERIOD, pid

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group("messy")


def _validate(folder: Path, out: Path):
    from fangpin.validate import validate_delivery

    v = validate_delivery(folder, PERIOD, out_dir=out, build_docs=False)
    for o in v.outcomes.values():
        assert o.rows_total == o.rows_accepted + o.rows_quarantined, o.feed
    return v


def _reasons(v, feed: str) -> dict[int, str]:
    q = v.outcomes[feed].quarantine
    return dict(zip(q["行号"].astype(int), q["原因"]))


def _summary(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "validation_summary.csv", encoding="utf-8-sig", dtype=str,
                       keep_default_na=False).set_index("数据项")


def _counts(eng, period=PERIOD) -> dict[str, int]:
    with eng.connect() as conn:
        return {n: conn.execute(select(func.count()).select_from(t).where(t.c.period == period)).scalar()
                for n, t in FEED_TABLES.items()}


def _load(folder: Path, *extra: str, period: str = PERIOD) -> int:
    return cli.main(["load", "--data", str(folder), "--period", period, "-q", *extra])


# ---- normalised, then checked -----------------------------------------------------------------

def test_full_width_blanks_x_and_amounts_are_normalised_then_loaded(db_url, tmp_path, capsys):
    folder = B.build("full_width", tmp_path)
    assert _load(folder, "--out", str(tmp_path / "out")) == 0
    summary = _summary(tmp_path / "out")
    assert summary.loc["medical", "通过行数"] == "5" and summary.loc["medical", "隔离行数"] == "0"
    got = db.read_feed(db.engine(db_url), "medical", PERIOD)
    assert got["source_row"].tolist() == [2, 3, 4, 5, 6]
    assert got["total_cost"].tolist() == [130.67, 5200.5, 3200.0, 3300.0, 1000.0]
    assert got["out_of_pocket"].tolist() == [120.0, 5200.0, 1220.5, 1230.5, 100.0]
    assert got["id_number"].tolist() == [pid(0), pid(2), pid(4), pid(6), B.x_id()]
    assert got["admission_date"].dt.strftime("%Y-%m-%d").tolist()[2] == "2026-10-03"
    assert got["admission_date"].dt.strftime("%Y-%m-%d").tolist()[4] == "2026-10-05"
    # the quarantine file would show the cells as delivered; here nothing is quarantined
    assert pd.read_csv(tmp_path / "out" / "quarantine" / "medical.csv", encoding="utf-8-sig").empty


# ---- IDs stored as numbers --------------------------------------------------------------------

def test_ids_excel_stored_as_numbers_are_quarantined_even_when_the_check_digit_passes(tmp_path, sqlite_url):
    lucky = B.lucky_number_id()
    assert id_problem(B.excel_number_text(lucky)) is None        # the mangled number passes GB 11643
    v = _validate(B.build("numeric_ids_xlsx", tmp_path), tmp_path / "out")
    assert _reasons(v, "medical") == {3: "身份证号：被存为数字，已失真", 4: "身份证号：被存为数字，已失真",
                                      6: "身份证号：被存为数字，已失真"}
    assert v.outcomes["medical"].accepted["id_number"].tolist() == [pid(0), pid(6)]
    q = v.outcomes["medical"].quarantine
    assert q.loc[q["行号"] == 6, "身份证号"].item() == B.excel_number_text(lucky)   # as read, not "repaired"


def test_ids_as_scientific_or_float_text_are_quarantined(tmp_path, sqlite_url):
    v = _validate(B.build("numeric_ids_text", tmp_path), tmp_path / "out")
    assert _reasons(v, "medical") == {2: "身份证号：被存为数字，已失真", 3: "身份证号：被存为数字，已失真"}
    assert v.outcomes["medical"].rows_accepted == 2


# ---- titles, totals, long rows, columns ---------------------------------------------------------

def test_title_and_blank_rows_above_the_header_are_skipped_and_reported(tmp_path, sqlite_url):
    v = _validate(B.build("title_rows", tmp_path), tmp_path / "out")
    med, dis = v.outcomes["medical"], v.outcomes["disability"]
    assert (med.status, med.rows_accepted, dis.status, dis.rows_accepted) == ("通过", 4, "通过", 3)
    assert med.accepted["source_row"].tolist() == [5, 6, 7, 8]     # row numbers as in the file
    assert dis.accepted["source_row"].tolist() == [4, 5, 6]
    summary = _summary(tmp_path / "out")
    assert list(summary.columns[:5]) == ["总行数", "通过行数", "隔离行数", "状态", "未匹配行数"] or \
        list(summary.reset_index().columns[:5]) == ["数据项", "总行数", "通过行数", "隔离行数", "状态"]
    note = summary.loc["medical", "说明"]
    assert "表头在第4行" in note and "第1行标题“2026年10月住院结算明细”" in note and "第2行空行" in note
    assert "表头在第3行" in summary.loc["disability", "说明"]


def test_a_total_row_is_quarantined_as_such(tmp_path, sqlite_url):
    v = _validate(B.build("total_row", tmp_path), tmp_path / "out")
    assert _reasons(v, "medical") == {6: "合计行"}
    assert v.outcomes["medical"].rows_accepted == 4


def test_a_row_with_more_cells_than_the_header_is_quarantined_never_shifted(tmp_path, sqlite_url):
    v = _validate(B.build("overflow", tmp_path), tmp_path / "out")
    assert _reasons(v, "medical") == {6: "列数多于表头"}
    med = v.outcomes["medical"]
    assert pid(8) not in set(med.accepted["id_number"]) and med.rows_accepted == 4
    q = pd.read_csv(tmp_path / "out" / "quarantine" / "medical.csv", encoding="utf-8-sig", dtype=str)
    row = q.iloc[0]
    assert (row["医疗总费用"], row["个人自付"], row["列6"]) == ("7", "556.52", "300")   # every cell kept


def test_duplicate_unknown_columns_are_ignored_a_duplicated_contract_column_rejects(tmp_path, sqlite_url):
    v = _validate(B.build("duplicate_columns", tmp_path), tmp_path / "out")
    med, dis = v.outcomes["medical"], v.outcomes["disability"]
    assert med.status == "通过" and med.rows_accepted == 4 and "忽略多余列：备注、备注（2）" in med.message
    assert dis.status == "拒收" and dis.message == \
        "disability.csv：表头重复：身份证号（同一列出现多次，无法判断以哪一列为准）"
    assert v.outcomes["households"].rows_accepted == 10            # the other feeds go on


# ---- encodings --------------------------------------------------------------------------------

def test_utf16_gbk_and_utf8_read_big5_and_binary_rejected_naming_the_encoding(tmp_path, sqlite_url):
    from fangpin.read import read_feed

    folder = B.build("encodings", tmp_path)
    assert read_feed(folder / "medical.csv", "medical").encoding == "utf-16"
    assert read_feed(folder / "disability.csv", "disability").encoding == "gb18030"
    assert read_feed(folder / "members.csv", "members").encoding == "utf-8"
    v = _validate(folder, tmp_path / "out")
    assert [v.outcomes[n].rows_accepted for n in ("medical", "disability", "members")] == [4, 3, 20]
    assert v.outcomes["disability"].accepted["disability_type"].tolist() == ["肢体", "视力", "智力"]
    edu, health = v.outcomes["education"], v.outcomes["health"]
    assert edu.status == "拒收" and edu.message.startswith("education.csv：") and "Big5" in edu.message
    assert health.status == "拒收" and health.message == "health.csv：不是文本表格（含二进制内容）"
    assert sorted(v.rejected) == ["education", "health"]


def test_utf16_without_bom_and_utf32_are_named(tmp_path):
    from fangpin.read import FeedRejected, read_feed

    headers, body = B.table(B.base()["medical"], "medical")
    text = B.csv_text(headers, body)
    (tmp_path / "medical.csv").write_bytes(text.encode("utf-16-le"))
    with pytest.raises(FeedRejected, match="UTF-16（无BOM）"):
        read_feed(tmp_path / "medical.csv", "medical")
    (tmp_path / "medical.csv").write_bytes(text.encode("utf-32"))
    with pytest.raises(FeedRejected, match="UTF-32"):
        read_feed(tmp_path / "medical.csv", "medical")


# ---- duplicates -------------------------------------------------------------------------------

def test_exact_duplicates_counted_once_contradictory_ones_all_quarantined(tmp_path, sqlite_url):
    v = _validate(B.build("duplicates", tmp_path), tmp_path / "out")
    assert _reasons(v, "medical") == {3: "重复且矛盾", 6: "重复", 7: "重复", 8: "重复且矛盾"}
    assert v.outcomes["medical"].accepted["source_row"].tolist() == [2, 4, 5]     # the first copy stays
    assert _reasons(v, "disability") == {2: "重复且矛盾", 5: "重复且矛盾", 6: "重复"}
    assert v.outcomes["disability"].accepted["source_row"].tolist() == [3, 4]


def test_an_exact_duplicate_settlement_does_not_double_r05(tmp_path, sqlite_url):
    """Two copies of one 3,000-yuan settlement must not add up to R05's 5,000."""
    from fangpin import pipeline

    rows = B.base()
    rows["medical"] = [{"身份证号": pid(0), "入院日期": "2026-10-01", "出院日期": "2026-10-05",
                        "医疗总费用": "9000", "个人自付": "3000"}] * 2
    rows["households"][0]["农户类别"] = "脱贫户"
    folder = B.write_delivery(tmp_path / PERIOD, rows)
    pipeline.ingest(folder, PERIOD, out_dir=tmp_path / "out", build_docs=False)
    pipeline.screen_period(PERIOD, str(tmp_path / "out"))
    screening = pd.read_csv(tmp_path / "out" / "screening.csv", encoding="utf-8-sig", dtype=str)
    hit = screening.loc[screening["户编号"] == "H001", "命中规则"]
    assert hit.empty or "R05" not in hit.item()


# ---- text limits, control characters, \N --------------------------------------------------------

def test_text_limits_control_characters_and_backslash_n_on_both_databases(db_url, tmp_path):
    folder = B.build("text_limits", tmp_path)
    assert _load(folder, "--out", str(tmp_path / "out")) == 0
    q = pd.read_csv(tmp_path / "out" / "quarantine" / "members.csv", encoding="utf-8-sig", dtype=str)
    assert dict(zip(q["行号"].astype(int), q["原因"])) == {
        3: "姓名：超过50个字符", 5: "姓名：含控制字符", 9: "与户主关系：超过2000个字符", 11: "姓名：含控制字符"}
    eng = db.engine(db_url)
    members = db.read_feed(eng, "members", PERIOD)
    assert len(members) == 16
    assert members.loc[members["source_row"] == 7, "name"].item() == "\\N"      # exactly as delivered
    from fangpin.validate import history
    from fangpin.quality.history import quarantined

    stored = quarantined(eng, PERIOD, "members")
    assert sorted(stored["source_row"]) == [3, 5, 9, 11]
    nul = stored.loc[stored["source_row"] == 5, "raw"].item()
    assert nul["姓名"] == "覃\x00二"                                           # kept, never lost
    assert set(history(eng, period=PERIOD, current_only=True)["feed"]) >= {"members", "medical"}


# ---- unreadable files -------------------------------------------------------------------------

def test_unreadable_files_are_rejected_by_name_and_the_others_go_on(tmp_path, sqlite_url, monkeypatch):
    folder = B.build("unreadable", tmp_path)
    real = Path.read_bytes

    def no_permission(self):
        if self.name == "members.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", no_permission)
    v = _validate(folder, tmp_path / "out")
    med, dis, mem = (v.outcomes[n] for n in ("medical", "disability", "members"))
    assert med.status == "拒收" and med.message.startswith("medical.csv：") and "xlsx" in med.message
    assert dis.status == "拒收" and dis.message.startswith("disability.xlsx：不是有效的xlsx文件")
    assert mem.status == "拒收" and mem.message == "members.csv：无法读取文件（没有读取权限）"
    assert v.outcomes["households"].rows_accepted == 10
    summary = _summary(tmp_path / "out")
    assert summary.loc["medical", "状态"] == "拒收" and summary.loc["members", "说明"] == mem.message


# ---- loading a delivery safely ----------------------------------------------------------------

def test_a_rejected_feed_in_a_redelivery_keeps_its_loaded_rows(db_url, tmp_path, capsys):
    folder = B.write_delivery(tmp_path / PERIOD, B.base())
    assert _load(folder) == 0
    eng = db.engine(db_url)
    before = _counts(eng)
    (folder / "medical.csv").write_bytes(b"\x00binary\x00" * 10)
    capsys.readouterr()
    assert _load(folder, "--out", str(tmp_path / "out")) == 1
    assert "medical.csv" in capsys.readouterr().err
    assert _counts(eng) == before and before["medical"] == 4
    note = _summary(tmp_path / "out").loc["medical", "说明"]
    assert "保留此前已入库的本期4行" in note


def test_an_empty_folder_is_held_and_replaces_nothing(db_url, tmp_path, capsys):
    from fangpin.validate import history

    folder = B.write_delivery(tmp_path / PERIOD, B.base())
    assert _load(folder) == 0
    eng = db.engine(db_url)
    before, current = _counts(eng), set(history(eng, period=PERIOD, current_only=True)["run_uid"])
    empty = tmp_path / "empty" / PERIOD
    empty.mkdir(parents=True)
    capsys.readouterr()
    assert _load(empty) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "暂缓入库" in err and "农户数据（households）未提供" in err
    assert _counts(eng) == before
    assert set(history(eng, period=PERIOD, current_only=True)["run_uid"]) == current
    from fangpin.pipeline import runs

    assert runs(eng, stage="ingest")["status"].iloc[0] == "held"


def test_a_shrunk_registry_is_held_unless_accepted(db_url, tmp_path, capsys):
    full = B.base()
    assert _load(B.write_delivery(tmp_path / "2026-09", full), period="2026-09") == 0

    def shrunk(keep: int):
        rows = B.base()
        ids = {h["户编号"] for h in rows["households"][:keep]}
        rows["households"] = rows["households"][:keep]
        rows["members"] = [m for m in rows["members"] if m["户编号"] in ids]
        return rows

    eng = db.engine(db_url)
    capsys.readouterr()
    assert _load(B.write_delivery(tmp_path / "a" / PERIOD, shrunk(8))) == 1     # 20% fewer: held
    err = capsys.readouterr().err
    assert "households" in err and "少20.0%" in err and "--accept-partial" in err
    assert _counts(eng)["households"] == 0
    assert _load(B.write_delivery(tmp_path / "b" / PERIOD, shrunk(9))) == 0     # exactly 10% fewer: loaded
    assert _counts(eng)["households"] == 9
    assert _load(B.write_delivery(tmp_path / "c" / PERIOD, shrunk(8)), "--accept-partial") == 0
    assert _counts(eng)["households"] == 8


def test_members_absent_is_held(sqlite_url, tmp_path, capsys):
    folder = B.write_delivery(tmp_path / PERIOD, B.base(), skip=("members",))
    assert _load(folder) == 1
    assert "家庭成员数据（members）未提供" in capsys.readouterr().err
    assert _counts(db.engine(sqlite_url))["households"] == 0


_KILLER = """
import os, signal, sys
from fangpin import cli, load
real = load.replace_period
calls = []
def dying(conn, feed, period, frame):
    calls.append(feed)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(conn, feed, period, frame)
load.replace_period = dying
sys.exit(cli.main(sys.argv[1:]))
"""


def _env(db_url: str) -> dict:
    env = dict(os.environ, FANGPIN_DB_URL=db_url, PYTHONPATH=str(REPO / "include"))
    return env


def test_a_load_killed_midway_leaves_the_previous_delivery_current(db_url, tmp_path):
    from fangpin.pipeline import runs
    from fangpin.validate import history

    first = B.write_delivery(tmp_path / "one" / PERIOD, B.base())
    assert _load(first) == 0
    eng = db.engine(db_url)
    before, current = _counts(eng), set(history(eng, period=PERIOD, current_only=True)["run_uid"])
    rows = B.base()
    rows["medical"] = rows["medical"][:2]
    second = B.write_delivery(tmp_path / "two" / PERIOD, rows)
    proc = subprocess.run([sys.executable, "-c", _KILLER, "load", "--data", str(second), "--period", PERIOD, "-q"],
                          env=_env(db_url), capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert _counts(eng) == before
    assert set(history(eng, period=PERIOD, current_only=True)["run_uid"]) == current
    assert len(db.read_feed(eng, "medical", PERIOD)) == 4
    assert runs(eng, stage="ingest")["status"].tolist()[:2] == ["abandoned", "success"]
    assert _load(second) == 0 and _counts(eng)["medical"] == 2                   # the next load goes through


def test_two_loads_of_one_period_at_once_take_turns(db_url, tmp_path):
    from fangpin.validate import history

    folder = B.write_delivery(tmp_path / PERIOD, B.base())
    db.engine(db_url)  # migrate once, before the race
    cmd = [sys.executable, "-m", "fangpin", "load", "--data", str(folder), "--period", PERIOD, "-q"]
    procs = [subprocess.Popen(cmd, env=_env(db_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all("UniqueViolation" not in o[1] for o in outs)
    eng = db.engine(db_url)
    counts = _counts(eng)
    assert counts["households"] == 10 and counts["members"] == 20 and counts["medical"] == 4
    cur = history(eng, period=PERIOD, current_only=True)
    assert cur["feed"].is_unique and cur["run_uid"].nunique() == 1


# ---- exit statuses ----------------------------------------------------------------------------

def test_exit_status_2_one_line_for_usage_and_environment_problems(tmp_path, monkeypatch, capsys):
    from fangpin import config

    def one_line(code, argv):
        capsys.readouterr()
        assert cli.main(argv) == code if code != "exit" else True
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        return err

    with pytest.raises(SystemExit) as exc:
        cli.main(["validate", "--data", str(tmp_path / "nope"), "--period", PERIOD, "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not found" in err

    folder = B.write_delivery(tmp_path / PERIOD, B.base())
    monkeypatch.setenv("FANGPIN_DB_URL", "postgresql+psycopg2://fangpin:s3cretPW@127.0.0.1:1/nowhere")
    config.reset()
    err = one_line(2, ["load", "--data", str(folder), "--period", PERIOD, "-q"])
    assert "s3cretPW" not in err and "数据库" in err and "127.0.0.1:1" in err

    monkeypatch.setenv("FANGPIN_DB_URL", f"sqlite:///{tmp_path / 'ok.db'}")
    config.reset()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    err = one_line(2, ["validate", "--data", str(folder), "--period", PERIOD, "--out", str(blocker / "out")])
    assert "输出目录不可写" in err
    config.reset()


def test_exit_status_0_and_1(sqlite_url, tmp_path, capsys):
    folder = B.write_delivery(tmp_path / PERIOD, B.base())
    assert cli.main(["validate", "--data", str(folder), "--period", PERIOD, "--out", str(tmp_path / "o")]) == 0
    (folder / "disability.csv").write_text("乱码,无表头\n1,2\n", encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["validate", "--data", str(folder), "--period", PERIOD, "--out", str(tmp_path / "o")]) == 1
    assert "disability.csv" in capsys.readouterr().err


# ---- screening says what it could not evaluate -------------------------------------------------

def test_screen_names_the_feeds_not_delivered_and_the_rules_not_evaluated(sqlite_url, tmp_path, capsys):
    from fangpin.pipeline import runs

    folder = B.write_delivery(tmp_path / PERIOD, B.base(), skip=("medical",))
    out = tmp_path / "out"
    assert cli.main(["screen", "--data", str(folder), "--period", PERIOD, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("警告"))
    for word in ("医保（medical）", "卫健（health）", "R05", "R09", "R12", "R04", "R10", "R11"):
        assert word in line
    assert "R01" not in line and "R06" not in line
    assert (out / "screening.csv").exists()
    detail = runs(db.engine(sqlite_url), stage="screen")["detail"].iloc[0]
    assert "medical" in detail["missing_feeds"] and "R05" in detail["rules_not_evaluated"]


# ---- property-based: the cell normalisers -------------------------------------------------------

FULL = str.maketrans("0123456789.,-+", "０１２３４５６７８９．，－＋")
blank = st.sampled_from([" ", "\t", "\u00a0", "\u3000", "\u200b", "\ufeff", "\u2009", ""])


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_clean_cell_is_idempotent_and_series_agrees(s):
    once = N.clean_cell(s)
    assert N.clean_cell(once) == once
    money = F.FEEDS["medical"].column("total_cost")
    assert N.clean_series(pd.Series([s], dtype=object), money).iloc[0] == N.clean_amount(once)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**9), st.integers(0, 99), blank, blank, st.sampled_from(["plain", "comma", "yuan", "full"]))
def test_amounts_in_any_dress_parse_to_the_same_number(whole, cents, left, right, dress):
    plain = f"{whole}.{cents:02d}"
    text = {"plain": plain, "comma": f"{whole:,}.{cents:02d}", "yuan": f"{plain}元",
            "full": f"{whole:,}.{cents:02d}".translate(FULL)}[dress]
    money = F.FEEDS["medical"].column("total_cost")
    cleaned = N.clean_series(pd.Series([left + text + right]), money)
    assert C.to_number(cleaned).iloc[0] == float(plain)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789.,-+元 eE") + ["１", "٣", "\u00a0", "５", "．"]), max_size=12))
def test_a_number_that_passes_the_check_never_becomes_null(s):
    """The reported bug: a value passing the number check must convert (no NULL at load)."""
    money = F.FEEDS["medical"].column("total_cost")
    cleaned = N.clean_series(pd.Series([s]), money)
    passes = bool(cleaned.str.contains(C.NUMBER_REGEX, regex=True).iloc[0])
    assert not passes or pd.notna(C.to_number(cleaned).iloc[0])


@settings(max_examples=200, deadline=None)
@given(st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)), st.integers(0, 999), blank, st.booleans(),
       st.booleans())
def test_ids_in_any_dress_normalise_to_the_same_valid_id(born, seq, pad, full_width, lower):
    from fangpin.ids import make_id, normalise

    idn = make_id("451302", born, seq)
    text = idn.lower() if lower else idn
    if full_width:
        text = "".join(chr(ord(c) + 0xFEE0) for c in text)
    cleaned = N.clean_series(pd.Series([pad + text + pad]), F.FEEDS["medical"].column("id_number")).iloc[0]
    assert cleaned == idn == normalise(pad + text + pad)
    assert C.id_problems(pd.Series([cleaned])).iloc[0] is None and id_problem(cleaned) is None


@settings(max_examples=100, deadline=None)
@given(st.integers(10**17, 10**18 - 1))
def test_an_id_through_a_spreadsheet_number_is_always_recognised(n):
    text = pd.Series([f"{float(n):.5E}", f"{n}.0", f"{float(n):.14e}"])
    assert N.numeric_id_text(text).all()


def test_value_parsers_on_every_shape_of_cell():
    """checks.parse_dates / parse_months / unparseable / to_number / text (one re pass per column,
    docs/benchmarks.md) on the shapes a department's export has: separators, compact forms, blanks
    around values, impossible dates, out-of-range years, non-text cells and empty cells."""
    cells = pd.Series([" 2026-10-05", "2026/2/30", "20261005", "2024-02-29", "2023-02-29", "2026-13-01",
                       "1677-01-01", "2261-12-31", "2026-10", "202610", "", None, np.nan, "  ", "x", 12.0, pd.NA],
                      index=range(10, 27), dtype=object)
    days = C.parse_dates(cells)
    assert days.index.equals(cells.index) and str(days.dtype) == "datetime64[ns]"
    assert [None if pd.isna(d) else f"{d:%Y-%m-%d}" for d in days] == [
        "2026-10-05", None, "2026-10-05", "2024-02-29", None, None, None, "2261-12-31", None, None,
        None, None, None, None, None, None, None]
    months = C.parse_months(cells)
    assert [None if pd.isna(d) else f"{d:%Y-%m}" for d in months] == [None] * 8 + [
        "2026-10", "2026-10"] + [None] * 7
    assert C.unparseable(cells).tolist() == [False, True, False, False, True, True, True, False, True, True,
                                             False, False, False, False, True, True, False]
    assert C.unparseable(cells, "month").tolist() == [True] * 8 + [False, False, False, False, False, False,
                                                                   True, True, False]
    numbers = pd.Series([" 5200.50", "-1.5", ".5", "3.", "5,200", "1e5", "", None, 7, "１２"], dtype=object)
    assert C.to_number(numbers).fillna(-99).tolist() == [5200.5, -1.5, 0.5, 3.0, -99, -99, -99, -99, 7.0, -99]
    assert C.text(pd.Series([" a ", "", None, "  ", 5, np.nan], dtype=object)).tolist() == [
        "a", None, None, None, "5", None]
    assert C.text(pd.Series([], dtype=object)).empty and C.parse_dates(pd.Series([], dtype=object)).empty
