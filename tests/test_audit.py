"""`fangpin audit` end to end: a delivery folder in, audit.csv out (data contract section 2b).

The per-check boundaries are YAML cases (tests/rules/A*.yaml, run by test_rules.py); here: the
command, the optional households columns (absent → checks skipped and reported; bad values
quarantined item by item; contradictions never quarantined), storing and re-running a period,
and the 疑点数据 problem candidates."""

from __future__ import annotations

import pandas as pd

from rulecase import write_delivery as _write

PERIOD = "2026-10"

CASE = {"households": [
    # A01 + A02: eliminated 5 months after identification, income below T
    {"id": "H1", "category": "监测户", "monitor_type": "边缘易致贫户", "identified_month": "2026-01",
     "risk_eliminated": "是", "eliminated_month": "2026-06", "income": 6500, "risk_types": "因残",
     "elimination_method": "帮扶消除"},
    # A05 when 风险类型 is delivered
    {"id": "H2", "category": "监测户", "monitor_type": "突发严重困难户", "identified_month": "2026-05",
     "risk_eliminated": "否", "risk_types": "因学、因病"},
    # A12: four households share a phone
    {"id": "H3", "phone": "13812345678"}, {"id": "H4", "phone": "13812345678"},
    {"id": "H5", "phone": "13812345678"}, {"id": "H6", "phone": "13812345678"},
    # nothing doubtful
    {"id": "H7", "phone": "13900000000"},
]}


def write_delivery(folder, case=CASE, optional=True, edit=None):
    return _write(folder, case, optional=optional, edit=edit)


def _csv(out):
    return pd.read_csv(out / "audit.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)


def test_audit_csv_meets_the_contract(db_url, tmp_path, capsys):
    from fangpin import cli

    data = write_delivery(tmp_path / PERIOD)
    out = tmp_path / "out"
    assert cli.main(["audit", "--data", str(data), "--period", PERIOD, "--out", str(out)]) == 0
    raw = (out / "audit.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = _csv(out)
    assert list(df.columns) == ["户编号", "乡镇代码", "村代码", "核查规则", "说明"]
    got = dict(zip(df["户编号"], df["核查规则"]))
    assert got == {"H1": "A01;A02", "H2": "A05", "H3": "A12", "H4": "A12", "H5": "A12", "H6": "A12"}
    h1 = df.set_index("户编号").loc["H1"]
    assert h1["乡镇代码"] == "451302101" and h1["村代码"] == "451302101001"
    assert h1["说明"].startswith("A01 ") and "；A02 " in h1["说明"] and "6,500 元" in h1["说明"]
    assert "13812345678" not in raw.decode("utf-8-sig")  # phones masked in 说明
    assert "未核查" not in capsys.readouterr().out


def test_absent_optional_columns_skip_their_checks_and_say_so(db_url, tmp_path, capsys):
    from fangpin import cli, pipeline

    data = write_delivery(tmp_path / PERIOD, optional=False)
    out = tmp_path / "out"
    assert cli.main(["audit", "--data", str(data), "--period", PERIOD, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "未核查" in printed and "A05" in printed and "A06" in printed and "风险类型" in printed
    df = _csv(out)
    assert "H2" not in set(df["户编号"])  # A05 skipped
    assert dict(zip(df["户编号"], df["核查规则"]))["H1"] == "A01;A02"
    # the households file was read (no rejection): the summary names the absent optional columns
    summary = pd.read_csv(out / "validation_summary.csv", encoding="utf-8-sig", dtype=str,
                          keep_default_na=False).set_index("数据项")
    assert summary.loc["households", "状态"] == "通过"
    assert "风险类型" in summary.loc["households", "说明"]
    # the stored run records the skipped checks
    from fangpin.audit import read_audit
    from fangpin.store import db

    stored = read_audit(db.engine(db_url), PERIOD)
    assert stored.skipped == ["A05", "A06"]
    assert set(stored.checks.loc[stored.checks["status"] == "已核查", "code"]) == {
        f"A{i:02d}" for i in range(1, 13)} - {"A05", "A06"}
    assert pipeline.audit_period(PERIOD, str(out))["skipped"] == ["A05", "A06"]


def test_risk_types_validated_item_by_item_and_contradictions_never_quarantined(db_url, tmp_path):
    from fangpin import cli

    def edit(feed, text):
        if feed == "households":
            text.loc[text["household_id"] == "H7", "risk_types"] = "因病、因穷"   # one unknown item
            text.loc[text["household_id"] == "H3", "elimination_method"] = "自动消除"
        return text

    data = write_delivery(tmp_path / PERIOD, edit=edit)
    out = tmp_path / "out"
    assert cli.main(["audit", "--data", str(data), "--period", PERIOD, "--out", str(out)]) == 0
    q = pd.read_csv(out / "quarantine" / "households.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    reasons = dict(zip(q["户编号"], q["原因"]))
    assert reasons == {"H7": "风险类型：取值不在允许范围", "H3": "风险消除方式：取值不在允许范围"}
    # H1 (A01, A02) and H2 (A05) are doubtful, yet loaded and audited, not quarantined
    got = dict(zip(*_csv(out)[["户编号", "核查规则"]].T.values))
    assert got["H1"] == "A01;A02" and got["H2"] == "A05"
    # with H3 quarantined only three households share the phone: no A12 any more
    assert not any("A12" in v for v in got.values())


def test_rerun_replaces_the_period_and_feeds_problem_candidates(db_url, tmp_path):
    from fangpin import cli
    from fangpin.audit import PROBLEM_TYPE, audit_counts, audit_problem_candidates, read_audit
    from fangpin.store import db

    data = write_delivery(tmp_path / PERIOD)
    out = tmp_path / "out"
    for _ in range(2):
        assert cli.main(["audit", "--data", str(data), "--period", PERIOD, "--out", str(out)]) == 0
    eng = db.engine(db_url)
    stored = read_audit(eng, PERIOD)
    assert sorted(stored.flagged["household_id"]) == ["H1", "H2", "H3", "H4", "H5", "H6"]
    assert len(stored.checks) == 12

    cand = audit_problem_candidates(eng, PERIOD)
    from fangpin.problems import CANDIDATE_COLUMNS

    assert list(cand.columns) == CANDIDATE_COLUMNS
    assert set(cand["problem_type"]) == {PROBLEM_TYPE} and len(cand) == 6
    h1 = cand.set_index("household_id").loc["H1"]
    assert h1["detail"].startswith("疑点数据：A01 ") and h1["fact"] == PERIOD
    assert pd.Timestamp(h1["found_on"]).date().isoformat() == "2026-10-31"

    counts = audit_counts(eng, PERIOD).set_index("code")["households"].to_dict()
    assert counts == {"A01": 1, "A02": 1, "A05": 1, "A12": 4}

    # a corrected re-delivery: H1's elimination fixed -> the period's results are replaced
    fixed = {"households": [dict(h) for h in CASE["households"]]}
    fixed["households"][0].update(income=9000, eliminated_month="2026-08")
    write_delivery(tmp_path / "fixed", case=fixed)
    assert cli.main(["audit", "--data", str(tmp_path / "fixed"), "--period", PERIOD, "--out", str(out)]) == 0
    assert "H1" not in set(read_audit(eng, PERIOD).flagged["household_id"])


def test_migration_matches_the_models(db_url):
    """The Alembic head (0001 to head) creates exactly what models.py declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from fangpin.store import db
    from fangpin.store.models import metadata

    eng = db.engine(db_url)
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], diff



def test_a_check_whose_department_feed_was_not_delivered_says_so(db_url, tmp_path, capsys):
    """Without 医保 and 卫健 deliveries A05 still applies its rule (no evidence found) but the
    audit says that the evidence feeds were not delivered."""
    from fangpin import cli

    data = write_delivery(tmp_path / PERIOD)
    for name in ("medical", "health"):
        for f in data.glob(f"{name}.*"):
            f.unlink()
    out = tmp_path / "out"
    assert cli.main(["audit", "--data", str(data), "--period", PERIOD, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "注意：A05 因病风险无医疗佐证（部门数据未提供：" in printed and "medical" in printed
    got = dict(zip(_csv(out)["户编号"], _csv(out)["核查规则"]))
    assert got["H2"] == "A05" and got["H1"] == "A01;A02"


def test_small_county_matches_the_audit_answer_key(small_county, sqlite_url):
    """The generated county's planted doubts (every check A01–A12, a few households each) and the
    background's incidental ones (answer_key/expected_audit.csv) are exactly what the audit flags
    on the accepted rows: same households, same checks, none skipped."""
    from conftest import SMALL_PERIOD

    from fangpin import audit
    from fangpin.pipeline import ingest
    from fangpin.store import db

    eng = db.engine(sqlite_url)
    ingest(small_county, SMALL_PERIOD, out_dir=None, eng=eng)
    result = audit.audit(audit.load_frames(eng, SMALL_PERIOD), SMALL_PERIOD)
    assert result.skipped == []
    key = pd.read_csv(small_county / "answer_key" / "expected_audit.csv", encoding="utf-8-sig", dtype=str,
                      keep_default_na=False)
    planted = key.assign(code=key["埋设规则"].str.split(";")).explode("code")
    planted = planted[planted["code"] != ""]
    assert set(planted["code"]) == set(audit.CHECKS), "every check has planted households"
    assert planted["code"].value_counts().min() >= 2
    for codes, planted_codes in zip(key["核查规则"], key["埋设规则"]):
        assert set(filter(None, planted_codes.split(";"))) <= set(codes.split(";"))
    expected = dict(zip(key["户编号"], key["核查规则"]))
    got = dict(zip(result.flagged["household_id"], result.flagged["checks"]))
    missed = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert not missed and not extra, f"missed {missed[:10]}, extra {extra[:10]}"
    wrong = {h: (expected[h], got[h]) for h in expected if expected[h] != got[h]}
    assert not wrong, list(wrong.items())[:10]
    assert key.set_index("户编号")["村代码"].to_dict() == dict(zip(result.flagged["household_id"],
                                                                  result.flagged["village_code"]))
