"""The data-quality stage: planted defects found with the right reason, no good row quarantined,
unreadable files rejected whole, history stored, Data Docs built, concurrent runs, GX vs pandas."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fangpin import feeds as F
from fangpin.ids import ID_PATTERN, PHONE_PATTERN, id_problem, make_id

PERIOD = "2026-10"
T = "451302100"                      # township
V1, V2 = T + "201", T + "202"        # villages


def pid(n: int, born=dt.date(1980, 5, 17)) -> str:
    return make_id("451302", born, n)


def bad_check(idn: str) -> str:
    return idn[:17] + ("0" if idn[17] != "0" else "1")


def _household(hid, village, head_id, size, **kw):
    row = {"户编号": hid, "行政区划代码": village, "户主姓名": "韦" + hid[-2:], "户主身份证号": head_id,
           "联系电话": "13800001234", "家庭人口数": str(size), "农户类别": "一般农户", "监测对象类别": "",
           "识别监测时间": "", "风险是否已消除": "", "消除监测时间": "", "人均纯收入": "12000",
           "上年人均纯收入": "11800.5", "帮扶措施数": "0"}
    row.update(kw)
    return row


def _member(idn, hid, rel="户主", skill="普通劳动力", name="韦某"):
    return {"身份证号": idn, "户编号": hid, "姓名": name, "与户主关系": rel, "劳动技能": skill}


def delivery() -> tuple[dict[str, list[dict]], set[tuple[str, int, str]], dict[str, int]]:
    """A small delivery with planted defects: (rows per feed, expected {(feed, 行号, 原因)}, unmatched)."""
    rows: dict[str, list[dict]] = {}
    bad: set[tuple[str, int, str]] = set()

    def add(feed, row, reason=None):
        rows.setdefault(feed, []).append(row)
        if reason:
            bad.add((feed, len(rows[feed]) + 1, reason))

    add("regions", {"行政区划代码": T, "名称": "良塘镇", "级别": "乡镇"})
    add("regions", {"行政区划代码": V1, "名称": "大村", "级别": "村"})
    add("regions", {"行政区划代码": V2, "名称": "小村", "级别": "村"})
    add("regions", {"行政区划代码": T + "203", "名称": "错村", "级别": "乡镇"}, "级别：级别与代码位数不符")
    add("regions", {"行政区划代码": "45130210", "名称": "短码", "级别": "乡镇"}, "行政区划代码：代码位数不对")

    # households H01..H08 good (members below), then defects
    m = 0
    members = []
    for i in range(1, 9):
        hid = f"H{i:02d}"
        size = 1 + i % 3
        ids = [pid(100 * i + k) for k in range(size)]
        extra = {}
        if i == 2:
            extra = {"农户类别": "监测户", "监测对象类别": "边缘易致贫户", "识别监测时间": "202605",
                     "风险是否已消除": "否"}
        add("households", _household(hid, V1 if i % 2 else V2, ids[0], size, **extra))
        for k, idn in enumerate(ids):
            members.append(_member(idn, hid, "户主" if k == 0 else "子女"))
    # a household whose head ID is lower-case x (accepted, normalised)
    lx = next(make_id("451302", dt.date(1970, 1, 1), s) for s in range(1000)
              if make_id("451302", dt.date(1970, 1, 1), s).endswith("X"))
    add("households", _household("H09", V1, lx.lower(), 1))
    members.append(_member(lx.lower(), "H09"))
    # defects in households (each with members so that only the planted rule fails)
    planted = [
        ("H10", {"户主身份证号": bad_check(pid(1001))}, "户主身份证号：校验位错误"),
        ("H11", {"行政区划代码": T + "299"}, "行政区划代码：村代码不存在"),
        ("H12", {"行政区划代码": T}, "行政区划代码：代码位数不对"),
        ("H13", {"人均纯收入": "-1"}, "人均纯收入：不能为负数"),
        ("H14", {"人均纯收入": "abc"}, "人均纯收入：不是数字"),
        ("H15", {"人均纯收入": "2000000"}, "人均纯收入：超出合理范围"),
        ("H16", {"联系电话": "1380000123"}, "联系电话：不是11位手机号"),
        ("H17", {"农户类别": "贫困户"}, "农户类别：取值不在允许范围"),
        ("H18", {"识别监测时间": "2026-11"}, "识别监测时间：晚于本期末"),
        ("H19", {"识别监测时间": "2026-13"}, "识别监测时间：月份无法解析"),
        ("H20", {"户主姓名": ""}, "户主姓名：不能为空"),
        ("H21", {"帮扶措施数": "1.5"}, "帮扶措施数：不是整数"),
        ("H22", {"户主身份证号": pid(1002)[:17]}, "户主身份证号：长度不是18位"),
        ("H23", {"户主身份证号": pid(1003)[:10] + "1332" + pid(1003)[14:]}, "户主身份证号：出生日期无效"),
        # born after the period's end (2026-10-31): invalid for October's delivery whenever it
        # is validated — the same on a re-run months later (the reference is the period, not today)
        ("H30", {"户主身份证号": pid(1004, born=dt.date(2026, 11, 2))}, "户主身份证号：出生日期无效"),
        ("H31", {"户主身份证号": pid(1005, born=dt.date(2026, 10, 31))}, None),  # born on the last day: valid
    ]
    for hid, change, reason in planted:
        idn = pid(2000 + int(hid[1:]))
        add("households", _household(hid, V1, idn, 1, **change), reason)
        members.append(_member(idn, hid))
    # 家庭人口数 differs from the member rows
    add("households", _household("H24", V2, pid(2024), 3), "家庭人口数：与成员数不符")
    members.append(_member(pid(2024), "H24"))
    # duplicated 户编号: both rows quarantined
    add("households", _household("H25", V2, pid(2025), 2), "户编号：重复")
    add("households", _household("H25", V2, pid(2026), 2), "户编号：重复")
    members += [_member(pid(2025), "H25"), _member(pid(2026), "H25", "配偶")]
    # two problems in one row, in suite (column) order
    add("households", _household("H26", "", pid(2027), 1, 上年人均纯收入="-5"),
        "行政区划代码：不能为空；上年人均纯收入：不能为负数")
    members.append(_member(pid(2027), "H26"))

    for mem in members:
        add("members", mem)
    add("members", _member(pid(3001), "H99"), "户编号：户编号不存在")
    add("members", _member(bad_check(pid(3002)), "H01"), "身份证号：校验位错误")
    add("members", _member(pid(3003), "H01", skill="壮劳力"), "劳动技能：取值不在允许范围")
    add("members", _member(pid(3004), "", name=""), "户编号：不能为空；姓名：不能为空")
    # a duplicated member ID (and H01's size stays 2 with the extra rows: H01 declared 2)
    add("members", _member(pid(3005), "H02", rel="子女"), "身份证号：重复")
    add("members", _member(pid(3005), "H02", rel="子女"), "身份证号：重复")
    # fix declared sizes for the extra member rows of H01 and H02
    for h in rows["households"]:
        if h["户编号"] == "H01":
            h["家庭人口数"] = str(2 + 2)   # H01: 2 + the bad-check and the 壮劳力 rows
        if h["户编号"] == "H02":
            h["家庭人口数"] = str(3 + 2)   # H02: 3 + the duplicated-ID rows

    member_ids = [r["身份证号"] for r in members]
    outsider = pid(9001, dt.date(1990, 1, 1))   # valid ID, not a member: unmatched, accepted
    add("medical", {"身份证号": member_ids[0], "入院日期": "2026-10-01", "出院日期": "2026/10/5",
                    "医疗总费用": "8000", "个人自付": "3000.50"})
    add("medical", {"身份证号": outsider, "入院日期": "20261002", "出院日期": "20261003",
                    "医疗总费用": "100", "个人自付": "10"})
    add("medical", {"身份证号": member_ids[1], "入院日期": "2026-02-30", "出院日期": "2026-10-03",
                    "医疗总费用": "100", "个人自付": "10"}, "入院日期：日期无法解析")
    add("medical", {"身份证号": member_ids[1], "入院日期": "2026-10-30", "出院日期": "2026-11-02",
                    "医疗总费用": "100", "个人自付": "10"}, "出院日期：晚于本期末")
    add("medical", {"身份证号": member_ids[2], "入院日期": "2026-10-10", "出院日期": "2026-10-03",
                    "医疗总费用": "100", "个人自付": "10"}, "出院日期：早于入院日期")
    add("medical", {"身份证号": member_ids[2], "入院日期": "2026-10-01", "出院日期": "2026-10-03",
                    "医疗总费用": "100", "个人自付": "-10"}, "个人自付：不能为负数")
    add("medical", {"身份证号": "4513021980", "入院日期": "2026-10-01", "出院日期": "2026-10-03",
                    "医疗总费用": "100", "个人自付": "10"}, "身份证号：长度不是18位")
    add("disability", {"身份证号": member_ids[3], "残疾类别": "肢体", "残疾等级": "一级", "发证日期": "2026-10-08"})
    add("disability", {"身份证号": member_ids[4], "残疾类别": "肢体", "残疾等级": "五级", "发证日期": "2026-10-08"},
        "残疾等级：取值不在允许范围")
    add("civil_affairs", {"身份证号": member_ids[5], "救助类型": "低保", "起始日期": "2026-10-01"})
    add("civil_affairs", {"身份证号": pid(9002, dt.date(1960, 3, 3)), "救助类型": "特困", "起始日期": "2026-09-01"})
    add("education", {"身份证号": member_ids[6], "学段": "初中", "学籍状态": "辍学"})
    add("education", {"身份证号": member_ids[9], "学段": "高中", "学籍状态": "在读"}, "身份证号：重复")
    add("education", {"身份证号": member_ids[9], "学段": "高中", "学籍状态": "在读"}, "身份证号：重复")
    add("education", {"身份证号": member_ids[7], "学段": "大学", "学籍状态": "在读"}, "学段：取值不在允许范围")
    add("housing", {"户编号": "H01", "鉴定等级": "C", "鉴定日期": "2026-06-01"})
    add("housing", {"户编号": "H77", "鉴定等级": "D", "鉴定日期": "2026-06-01"}, "户编号：户编号不存在")
    add("health", {"身份证号": member_ids[8], "疾病名称": "尿毒症", "类别": "大病", "确诊日期": "2026-10-09"})
    add("inspections", {"户编号": "H02", "排查日期": "2026-10-12", "排查人": "李四", "排查结果": "发现风险"})
    add("verifications", {"户编号": "H03", "核实日期": "2026-10-20", "核实结论": "排除"})
    add("spot_check_results", {"户编号": "H04", "抽查日期": "2026-10-21", "是否接通": "是", "信息是否一致": "否",
                               "帮扶是否落实": "是", "备注": ""})
    add("spot_check_results", {"户编号": "H05", "抽查日期": "2026-10-21", "是否接通": "不知道", "信息是否一致": "否",
                               "帮扶是否落实": "是", "备注": "回访"}, "是否接通：取值不在允许范围")
    # rectifications deliberately not delivered
    unmatched = {"medical": 1, "civil_affairs": 1}
    return rows, bad, unmatched


def write_delivery(folder: Path, rows: dict[str, list[dict]], encoding: str = "utf-8",
                   xlsx: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rs in rows.items():
        frame = pd.DataFrame(rs, columns=F.FEEDS[name].headers)
        if name in xlsx:
            frame.to_excel(folder / f"{name}.xlsx", index=False)
        else:
            frame.to_csv(folder / f"{name}.csv", index=False, encoding=encoding)
    return folder


@pytest.fixture
def planted(tmp_path):
    rows, bad, unmatched = delivery()
    return write_delivery(tmp_path / "in", rows), rows, bad, unmatched


def _found(validation) -> set[tuple[str, int, str]]:
    return {(n, int(r), why) for n, o in validation.outcomes.items()
            for r, why in zip(o.quarantine["行号"], o.quarantine["原因"])}


# ---- the planted defects -----------------------------------------------------------------------

def test_every_planted_defect_found_and_no_good_row_quarantined(planted, tmp_path, sqlite_url):
    from fangpin.validate import validate_delivery

    folder, rows, bad, unmatched = planted
    v = validate_delivery(folder, PERIOD, out_dir=tmp_path / "out", build_docs=False)
    found = _found(v)
    assert found == bad, f"missed {sorted(bad - found)}; unexpected {sorted(found - bad)}"
    for name, o in v.outcomes.items():
        delivered = len(rows.get(name, []))
        assert o.rows_total == delivered == o.rows_accepted + o.rows_quarantined, name
        assert o.rows_unmatched == unmatched.get(name, 0), name
        expected_status = "未提供" if name not in rows else ("有隔离" if o.rows_quarantined else "通过")
        assert o.status == expected_status
    assert v.outcomes["rectifications"].status == "未提供" and v.rejected == []
    assert v.outcomes["health"].status == "通过"


def test_accepted_rows_are_typed(planted, sqlite_url):
    from fangpin.validate import validate_delivery

    folder, *_ = planted
    v = validate_delivery(folder, PERIOD, build_docs=False)
    hh = v.accepted("households")
    assert str(hh["income"].dtype) == "float64" and str(hh["declared_size"].dtype) == "Int64"
    assert (hh["township_code"] == T).all() and "source_row" in hh
    assert hh.loc[hh["household_id"] == "H02", "identified_month"].item() == "2026-05"
    assert hh.loc[hh["household_id"] == "H09", "head_id_number"].item().endswith("X")   # x normalised
    med = v.accepted("medical")
    assert pd.api.types.is_datetime64_any_dtype(med["discharge_date"])
    assert med["discharge_date"].iloc[0] == pd.Timestamp("2026-10-05")
    assert set(v.accepted("regions")["township_code"]) == {T}
    empty = v.accepted("rectifications")
    assert empty.empty and {"problem_id", "rectify_date", "source_row"} <= set(empty.columns)
    # screening input: no quarantined household is handed on
    assert not set(hh["household_id"]) & {"H10", "H11", "H25"}


def test_output_files(planted, tmp_path, sqlite_url):
    from fangpin.validate import validate_delivery

    folder, rows, bad, _ = planted
    out = tmp_path / "out"
    validate_delivery(folder, PERIOD, out_dir=out, build_docs=False)
    summary_bytes = (out / "validation_summary.csv").read_bytes()
    assert summary_bytes.startswith(b"\xef\xbb\xbf")
    summary = pd.read_csv(out / "validation_summary.csv", encoding="utf-8-sig", dtype=str).set_index("数据项")
    assert list(summary.columns[:4]) == ["总行数", "通过行数", "隔离行数", "状态"]
    assert list(summary.index) == list(F.FEED_ORDER)
    assert summary.loc["households", "隔离行数"] == str(sum(1 for b in bad if b[0] == "households"))
    assert summary.loc["rectifications", "状态"] == "未提供"
    q = pd.read_csv(out / "quarantine" / "households.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert (out / "quarantine" / "households.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert list(q.columns) == [*F.HOUSEHOLDS.headers, "原因", "行号"]
    row = q[q["行号"] == "15"].iloc[0]     # H14: original value kept as delivered
    assert row["人均纯收入"] == "abc" and row["原因"] == "人均纯收入：不是数字"
    health = pd.read_csv(out / "quarantine" / "health.csv", encoding="utf-8-sig")
    assert health.empty and "原因" in health.columns      # header only when nothing quarantined
    assert not (out / "quarantine" / "rectifications.csv").exists()


def test_gx_and_plain_pandas_agree(planted, sqlite_url):
    from fangpin.read import read_feed
    from fangpin.validate import pandas_check, pandas_check_delivery, validate_delivery

    folder, rows, bad, _ = planted
    v = validate_delivery(folder, PERIOD, build_docs=False)
    plain = pandas_check({n: read_feed(folder / f"{n}.csv", n).frame for n in rows}, PERIOD)
    got = {(n, int(r), why) for n, s in plain.items() for r, why in s.items()}
    assert got == _found(v) == bad
    assert {(n, int(r), why) for n, s in pandas_check_delivery(folder, PERIOD).items() for r, why in s.items()} == bad


def test_id_check_is_gb11643_exactly():
    from fangpin.quality.checks import id_problems

    values = [pid(i, dt.date(1940, 1, 1) + dt.timedelta(days=97 * i)) for i in range(300)]
    values += [bad_check(v) for v in values[:50]] + [v[:10] + "0230" + v[14:] for v in values[50:80]]
    values += ["00" + v[2:] for v in values[80:90]] + [v[:17] + "Y" for v in values[90:100]]
    values += [v.lower() for v in values if v.endswith("X")] + ["12345", "", "x" * 18, "四五一三〇二" + "1" * 12]
    values += [v[:6] + "2099" + v[10:] for v in values[100:110]]
    got = id_problems(pd.Series(values, dtype=object)).tolist()
    assert got == [id_problem(v) if v else None for v in values]


# ---- encodings, xlsx, unreadable files ---------------------------------------------------------

def test_gbk_and_xlsx_deliveries_validate_the_same(tmp_path, sqlite_url):
    from fangpin.validate import validate_delivery

    rows, bad, _ = delivery()
    gbk = write_delivery(tmp_path / "gbk", rows, encoding="gbk")
    assert "行政区划代码".encode("gbk") in (gbk / "regions.csv").read_bytes()
    mixed = write_delivery(tmp_path / "xlsx", rows, encoding="utf-8-sig", xlsx=("households", "medical"))
    for folder in (gbk, mixed):
        v = validate_delivery(folder, PERIOD, build_docs=False)
        assert _found(v) == bad, folder
        assert v.outcomes["regions"].accepted["name"].tolist()[:3] == ["良塘镇", "大村", "小村"]
    assert v.outcomes["households"].file.suffix == ".xlsx"


@pytest.mark.parametrize("case", ["missing_column", "empty", "not_a_table", "header_only_other"])
def test_unreadable_file_rejected_whole_others_go_on(case, tmp_path, sqlite_url):
    from fangpin.validate import validate_delivery

    rows, bad, _ = delivery()
    folder = write_delivery(tmp_path / "in", rows)
    target = folder / "medical.csv"
    if case == "missing_column":
        pd.DataFrame(rows["medical"]).drop(columns=["个人自付"]).to_csv(target, index=False)
        problem = "缺少列：个人自付"
    elif case == "empty":
        target.write_bytes(b"")
        problem = "文件为空"
    elif case == "not_a_table":
        target.unlink()
        target = folder / "medical.xlsx"
        target.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
        problem = "不是有效的xlsx文件"
    else:
        target.write_text("这不是表格\n随便写的内容\n", encoding="utf-8")
        problem = "表头无法识别"
    v = validate_delivery(folder, PERIOD, out_dir=tmp_path / "out", build_docs=False)
    o = v.outcomes["medical"]
    assert v.rejected == ["medical"] and o.status == "拒收"
    assert o.rows_total == o.rows_accepted == o.rows_quarantined == 0 and o.accepted.empty
    assert target.name in o.message and problem in o.message
    others = {b for b in bad if b[0] != "medical"}
    assert _found(v) == others
    summary = pd.read_csv(tmp_path / "out" / "validation_summary.csv", encoding="utf-8-sig").set_index("数据项")
    assert summary.loc["medical", "状态"] == "拒收" and target.name in summary.loc["medical", "说明"]
    # the department feeds still count unmatched rows against the members
    assert v.outcomes["civil_affairs"].rows_unmatched == 1


def test_reference_checks_skipped_when_the_referenced_feed_is_missing(tmp_path, sqlite_url):
    from fangpin.validate import validate_delivery

    rows, bad, _ = delivery()
    del rows["households"]
    v = validate_delivery(write_delivery(tmp_path / "in", rows), PERIOD, build_docs=False)
    members = v.outcomes["members"]
    assert "未校验" in members.message
    # the unknown-household member is not quarantined (cannot be checked); the others still are
    expected = {b for b in bad if b[0] not in ("households", "housing")
                and not b[2].startswith("户编号：户编号不存在")}
    assert _found(v) == expected


# ---- history, Data Docs, concurrency ----------------------------------------------------------

def test_history_per_department_and_period(planted, tmp_path, db_url):
    from fangpin.quality.history import quarantined, results
    from fangpin.store import db
    from fangpin.validate import history, validate_delivery

    folder, rows, bad, _ = planted
    eng = db.engine(db_url)
    first = validate_delivery(folder, PERIOD, eng=eng, build_docs=False)
    validate_delivery(folder, "2026-09", eng=eng, build_docs=False)
    second = validate_delivery(folder, PERIOD, eng=eng, build_docs=False)
    runs = history(eng, feed="medical")
    assert len(runs) == 3 and set(runs["period"]) == {PERIOD, "2026-09"}
    current = history(eng, feed="medical", period=PERIOD, current_only=True)
    assert current["run_uid"].tolist() == [second.run_uid]
    old = history(eng, feed="medical", period=PERIOD)
    assert first.run_uid in set(old["run_uid"]) and old["is_current"].sum() == 1
    dept = history(eng, department="医保局", period=PERIOD)
    assert set(dept["feed"]) == {"medical"} and dept.iloc[0]["rows_unmatched"] == 1
    assert history(eng, feed="rectifications", period=PERIOD).iloc[0]["status"] == "未提供"
    # quarantine rows of the period replaced, not duplicated
    q = quarantined(eng, PERIOD)
    assert len(q) == len(bad) and set(zip(q["feed"], q["source_row"], q["reasons"])) == bad
    raw = q[q["feed"] == "households"].iloc[0]["raw"]
    raw = json.loads(raw) if isinstance(raw, str) else raw
    assert "户编号" in raw
    # one result per expectation, samples masked
    run_id = int(current.iloc[0]["id"])
    res = results(eng, run_id)
    suite = json.loads((Path(__file__).parents[1] / "expectations" / "medical.json").read_text(encoding="utf-8"))
    assert len(res) == len(suite["expectations"])
    assert res["unexpected_count"].sum() >= 5 and not res.loc[res["success"], "unexpected_count"].any()
    for sample in res["sample"].dropna():
        text = json.dumps(sample, ensure_ascii=False) if not isinstance(sample, str) else sample
        assert not ID_PATTERN.search(text) and not PHONE_PATTERN.search(text), text


def test_data_docs_built_without_full_ids(planted, tmp_path, sqlite_url):
    from fangpin.store import db
    from fangpin.validate import history, validate_delivery

    folder, *_ = planted
    out = tmp_path / "out"
    v = validate_delivery(folder, PERIOD, out_dir=out)
    assert v.data_docs == (out / "data_docs" / "index.html").resolve() and v.data_docs.is_file()
    index = v.data_docs.read_text(encoding="utf-8")
    assert "households" in index and "medical" in index
    pages = list((out / "data_docs").rglob("*.html"))
    assert any("validations" in p.parts for p in pages)
    for p in list((out / "data_docs").rglob("*.html")) + list((out / "data_docs").rglob("*.json")):
        text = p.read_text(encoding="utf-8", errors="ignore")
        assert not ID_PATTERN.search(text), p
    runs = history(db.engine(sqlite_url), period=PERIOD)
    assert set(runs["data_docs"]) == {str(v.data_docs)}


def test_two_validations_at_once(planted, tmp_path, sqlite_url, monkeypatch):
    """Two processes validating two periods into one output folder (one GX project, one Data Docs
    site, one database) give each exactly what a validation on its own gives."""
    from fangpin import config
    from fangpin.validate import validate_delivery

    folder, rows, bad, _ = planted
    # What 2026-09 quarantines on its own (more than 2026-10: October dates are after its end).
    monkeypatch.setenv("FANGPIN_DB_URL", f"sqlite:///{tmp_path / 'alone.db'}")
    monkeypatch.setenv("FANGPIN_HOME", str(tmp_path / "alone"))
    config.reset()
    alone = validate_delivery(folder, "2026-09", out_dir=tmp_path / "alone_out", build_docs=False)
    expected = {PERIOD: len(bad), "2026-09": sum(o.rows_quarantined for o in alone.outcomes.values())}
    assert expected["2026-09"] > expected[PERIOD]
    monkeypatch.setenv("FANGPIN_DB_URL", sqlite_url)
    monkeypatch.setenv("FANGPIN_HOME", str(tmp_path / "home"))
    config.reset()
    out = tmp_path / "out"
    code = ("import sys; from fangpin.validate import validate_delivery; "
            "v = validate_delivery(sys.argv[1], sys.argv[2], out_dir=sys.argv[3]); "
            "print(v.run_uid, sum(o.rows_quarantined for o in v.outcomes.values()))")
    env = {**os.environ, "FANGPIN_DB_URL": sqlite_url, "FANGPIN_HOME": str(tmp_path / "home")}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(folder), p, str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in (PERIOD, "2026-09")]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, period, (so, se) in zip(procs, (PERIOD, "2026-09"), outs):
        assert p.returncode == 0, se[-3000:]
        assert int(so.split()[1]) == expected[period], period
    index = (out / "data_docs" / "index.html").read_text(encoding="utf-8")
    for so, _ in outs:
        assert so.split()[0][:8] in index      # both runs listed in the one site
    from fangpin.store import db
    from fangpin.validate import history

    runs = history(db.engine(sqlite_url))
    assert len(runs) == 2 * len(F.FEED_ORDER) and runs["is_current"].all()
    summary = pd.read_csv(out / "validation_summary.csv", encoding="utf-8-sig")
    assert len(summary) == len(F.FEED_ORDER)


# ---- the declarative suites --------------------------------------------------------------------

def test_suites_cover_every_rule_of_the_contract():
    from fangpin.quality.suites import load_suite

    for feed in F.FEEDS.values():
        suite = load_suite(feed.name)
        by_col: dict[str, set[str]] = {}
        for e in suite["expectations"]:
            kw = e["kwargs"]
            col = kw.get("column") or kw.get("column_A")
            by_col.setdefault(col.split("__")[0], set()).add(e["meta"].get("problem", "GB11643"))
            assert e["meta"]["header"] in feed.headers
        for c in feed.columns:
            got = by_col.get(c.name, set())
            if c.required:
                assert "不能为空" in got, (feed.name, c.name)
            want = {F.ID_NUMBER: {"GB11643"}, F.ENUM: {"取值不在允许范围"}, F.PHONE: {"不是11位手机号"},
                    F.MONEY: {"不是数字", "不能为负数"}, F.COUNT: {"不是数字", "不能为负数"},
                    F.DATE: {"日期无法解析", "晚于本期末"}, F.MONTH: {"月份无法解析", "晚于本期末"},
                    F.CODE: {"代码位数不对"}}.get(c.kind, set())
            if c.max_value is not None:
                want = want | {"超出合理范围"}
            assert want <= got, (feed.name, c.name, want - got)
        for u in feed.unique:
            assert "重复" in by_col[u]
        for r in feed.references:
            assert any(p in by_col[r.column] for p in ("户编号不存在", "村代码不存在"))
    assert "与成员数不符" in by_col_of("households", "declared_size")


def by_col_of(feed: str, column: str) -> set[str]:
    from fangpin.quality.suites import load_suite

    return {e["meta"].get("problem") for e in load_suite(feed)["expectations"]
            if (e["kwargs"].get("column") or e["kwargs"].get("column_A", "")).split("__")[0] == column}


def test_threshold_changed_in_json_needs_no_code(planted, tmp_path, monkeypatch, sqlite_url):
    from fangpin import config
    from fangpin.validate import validate_delivery

    folder, rows, bad, _ = planted
    suites = tmp_path / "expectations"
    shutil.copytree(Path(__file__).parents[1] / "expectations", suites)
    p = suites / "households.json"
    suite = json.loads(p.read_text(encoding="utf-8"))
    for e in suite["expectations"]:
        if e["kwargs"].get("column") == "income__number" and "max_value" in e["kwargs"]:
            e["kwargs"]["max_value"] = 11_000       # every income of 12000 becomes implausible
    p.write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("FANGPIN_EXPECTATIONS_DIR", str(suites))
    config.reset()
    v = validate_delivery(folder, PERIOD, build_docs=False)
    assert v.outcomes["households"].rows_accepted == 0
    assert "人均纯收入：超出合理范围" in set(v.outcomes["households"].quarantine["原因"])


# ---- the generator's county and its answer key -------------------------------------------------

def test_small_county_matches_answer_key(small_county, tmp_path, sqlite_url):
    """Every planted bad row found with the right reason; no other row quarantined."""
    from conftest import SMALL_PERIOD

    from fangpin.validate import validate_delivery

    key = pd.read_csv(small_county / "answer_key" / "expected_quarantine.csv", encoding="utf-8-sig", dtype=str)
    v = validate_delivery(small_county, SMALL_PERIOD, out_dir=tmp_path / "out", build_docs=False)
    got: dict[tuple[str, int], str] = {}
    for name, o in v.outcomes.items():
        got.update({(name, int(r)): why for r, why in zip(o.quarantine["行号"], o.quarantine["原因"])})
    expected_rows = {(f, int(r)) for f, r in zip(key["数据项"], key["行号"])}
    assert set(got) == expected_rows, (f"missed {sorted(expected_rows - set(got))[:10]}; "
                                       f"unexpected {[(k, got[k]) for k in sorted(set(got) - expected_rows)][:10]}")
    wrong = [(f, r, f"{col}：{problem}", got[(f, int(r))]) for f, r, col, problem
             in zip(key["数据项"], key["行号"], key["列"], key["原因"])
             if f"{col}：{problem}" not in got[(f, int(r))].split("；")]
    assert not wrong, wrong[:10]
    for o in v.outcomes.values():
        assert o.rows_total == o.rows_accepted + o.rows_quarantined


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_cells_past_the_header_flag_the_row_and_blank_lines_keep_numbering(suffix, tmp_path):
    """A row longer than the header keeps its surplus cells (as 列N) and is flagged, a blank
    line keeps the row numbers a person sees, and a ragged CSV (which pandas' parser refuses)
    reads the same as a regular one."""
    from openpyxl import Workbook

    from fangpin.read import read_feed

    headers = F.FEEDS["medical"].headers
    assert headers == ["身份证号", "入院日期", "出院日期", "医疗总费用", "个人自付"]
    one = [pid(1), "2026-10-03", "2026-10-08", "3000", "1200"]
    two = [pid(2), "2026-10-04", "2026-10-04", "200", "50"]
    rows = [headers, one, [], two + ["", "多写的备注"], [" " + pid(3) + " "] + one[1:]]
    path = tmp_path / f"medical{suffix}"
    if suffix == ".csv":
        path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    else:
        wb = Workbook()
        for r in rows:
            wb.active.append(r or [None])
        wb.save(path)
    raw = read_feed(path, "medical")
    surplus = f"列{len(headers) + 2}"
    assert raw.extra_columns == []                                   # past the header: not a column
    assert raw.overflow.tolist() == [False, True, False]            # the row is flagged (列数多于表头)
    assert raw.frame["source_row"].tolist() == [2, 4, 5]            # the blank line 3 is skipped, not renumbered
    assert raw.frame[surplus].tolist() == ["", "多写的备注", ""]      # the cell is kept for the quarantine
    assert raw.frame["id_number"].tolist() == [pid(1), pid(2), pid(3)]  # cells are stripped
