"""The 人社 feed `employment`: validated, quarantined and loaded like the others; R13 from the CLI,
including the month before taken from the previous delivery; the 2026 policy flags in screening.csv."""

from __future__ import annotations

import pandas as pd

from rulecase import write_delivery

PERIOD = "2026-10"


def _screening(out):
    return pd.read_csv(out / "screening.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)


def test_employment_rows_validated_and_quarantined_with_reasons(db_url, tmp_path):
    from fangpin import cli

    case = {"households": [{"id": "H1", "employment": [
        {"member": 0, "status": "务工", "wage": 3000, "month": "2026-09"},
        {"member": 0, "status": "务工", "wage": 3100, "month": "2026-10"},
        {"member": 1, "status": "务工", "wage": 2000, "month": "2026-10"},   # -> 在家 (not an allowed status)
        {"member": 2, "status": "务工", "wage": 2000, "month": "2026-10"},   # -> 统计月份 2026-11 (after the period)
    ]}]}

    def edit(feed, text):
        if feed == "employment":
            text.loc[2, "employment_status"] = "在家"
            text.loc[3, "stat_month"] = "2026-11"
            text.loc[1, "work_place"] = "国外"
            text = pd.concat([text, pd.DataFrame([{"id_number": "450100196005050011", "employment_status": "灵活就业",
                                                   "work_place": "", "monthly_wage": "5200.50",
                                                   "stat_month": "202610"}])], ignore_index=True)
        return text

    data = write_delivery(tmp_path / PERIOD, case, edit=edit)
    from fangpin.ids import check_char

    outsider = "45010019600505001" + check_char("45010019600505001")
    raw = (data / "employment.csv").read_text(encoding="utf-8-sig").replace("450100196005050011", outsider)
    (data / "employment.csv").write_text(raw, encoding="utf-8-sig")

    out = tmp_path / "out"
    assert cli.main(["validate", "--data", str(data), "--period", PERIOD, "--out", str(out), "--no-docs"]) == 0
    summary = pd.read_csv(out / "validation_summary.csv", encoding="utf-8-sig", dtype=str,
                          keep_default_na=False).set_index("数据项")
    row = summary.loc["employment"]
    assert (row["总行数"], row["通过行数"], row["隔离行数"], row["状态"], row["未匹配行数"]) == ("5", "2", "3", "有隔离", "1")
    q = pd.read_csv(out / "quarantine" / "employment.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert sorted(q["原因"]) == ["务工地点：取值不在允许范围", "就业状态：取值不在允许范围", "统计月份：晚于本期末"]
    assert list(q.columns[:5]) == ["身份证号", "就业状态", "务工地点", "月工资", "统计月份"]

    from fangpin.store import db

    loaded = db.read_feed(db.engine(db_url), "employment", PERIOD)
    assert sorted(loaded["monthly_wage"]) == [3000.0, 5200.5]


def test_r13_from_the_cli_with_the_month_before_from_the_previous_delivery(db_url, tmp_path):
    """Delivery 2026-09 holds 统计月份 2026-09; delivery 2026-10 only 2026-10: R13 still compares."""
    from fangpin import cli

    def case(month, wage):
        return {"households": [
            {"id": "H1", "employment": [{"member": 0, "status": "务工", "wage": wage, "month": month}]},
            {"id": "H2", "employment": [{"member": 0, "status": "务工", "wage": 3000, "month": month}]}]}

    out = tmp_path / "out"
    sept = write_delivery(tmp_path / "2026-09", case("2026-09", 4000))
    assert cli.main(["screen", "--data", str(sept), "--period", "2026-09", "--out", str(out / "09"),
                     "--no-push-lists"]) == 0
    assert "R13" not in " ".join(_screening(out / "09")["命中规则"])  # no month before in the DB yet
    octo = write_delivery(tmp_path / "2026-10", case("2026-10", 2000))
    assert cli.main(["screen", "--data", str(octo), "--period", PERIOD, "--out", str(out / "10"),
                     "--no-push-lists"]) == 0
    df = _screening(out / "10").set_index("户编号")
    assert df.loc["H1", "命中规则"] == "R13" and "H2" not in df.index
    assert "2026-09 月 4,000 元、2026-10 月 2,000 元，下降 50%" in df.loc["H1", "说明"]


def test_policy_flags_follow_the_contract_columns_in_screening_csv(db_url, tmp_path):
    from fangpin import cli

    case = {"households": [
        {"id": "H1", "income": 9000, "members": ["无劳动力"]},                          # R06, 低保边缘
        {"id": "H2", "category": "脱贫户", "income": 12000, "members": ["普通劳动力"],    # R05, 刚性支出型困难
         "medical": [{"discharge": "2026-03-01", "oop": 9700}]},
        {"id": "H3", "income": 30000, "members": ["无劳动力"]}]}                          # R06 only
    data = write_delivery(tmp_path / PERIOD, case)
    out = tmp_path / "out"
    assert cli.main(["screen", "--data", str(data), "--period", PERIOD, "--out", str(out), "--no-push-lists"]) == 0
    df = _screening(out)
    assert list(df.columns[:7]) == ["户编号", "乡镇代码", "村代码", "命中规则", "风险等级", "是否已纳入监测", "说明"]
    assert {"低保边缘", "刚性支出型困难"} <= set(df.columns[7:])
    flags = df.set_index("户编号")[["低保边缘", "刚性支出型困难"]].T.to_dict("list")
    assert flags == {"H1": ["是", "否"], "H2": ["否", "是"], "H3": ["否", "否"]}


def test_township_counts_for_the_thirteen_indicators():
    """务工人数 / 公益性岗位 per township (十三清): this month's rows of registry members, one per person."""
    from rulecase import build_frames

    from fangpin.employment import township_counts

    frames = build_frames({"households": [
        {"id": "H1", "employment": [
            {"member": 0, "status": "务工", "wage": 3000, "month": "2026-10", "place": "省外"},
            {"member": 0, "status": "公益性岗位", "wage": 800, "month": "2026-10"},   # counted once, as 务工
            {"member": 1, "status": "公益性岗位", "wage": 800, "month": "2026-10"},
            {"member": 2, "status": "灵活就业", "wage": 1500, "month": "2026-09"}]},  # another month
        {"id": "H2", "village": "451302102001", "employment": [
            {"member": 0, "status": "失业", "wage": 0, "month": "2026-10"},
            {"member": 1, "status": "灵活就业", "wage": 2000, "month": "2026-10", "place": "县内"}]}]})
    out = township_counts(frames, "2026-10").set_index("township_code").T.to_dict()
    assert out == {"451302101": {"working": 1, "migrant": 1, "public_welfare": 1, "unemployed": 0},
                   "451302102": {"working": 1, "migrant": 0, "public_welfare": 0, "unemployed": 1}}
