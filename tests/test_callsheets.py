"""Restricted call sheets for the spot-check team: xlsx (both databases) and PDF (once)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from fangpin import callsheets, sample
from fangpin.store import db

P = "2026-10"
TOWNS = {"451302100": "凤凰镇", "451302101": "良江镇"}
VILLAGES = {"451302100001": "三联村", "451302100002": "龙腾村", "451302101001": "良塘村"}


def county() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """40 eligible households in 凤凰镇, 6 in 良江镇 (plus 一般农户), with members listed."""
    hh_rows, member_rows = [], []
    plan = [("451302100001", 20), ("451302100002", 20), ("451302101001", 6)]
    for village, n in plan:
        for k in range(n + 4):
            i = len(hh_rows)
            cat = "一般农户" if k >= n else ("脱贫户", "监测户")[k % 2]
            size = 2 + i % 3
            hh_rows.append({"household_id": f"HH{i:04d}", "village_code": village, "head_name": f"黄{i}",
                            "head_id_number": "45130219800101001X", "phone": f"1357712{i:04d}",
                            "declared_size": size + 1,  # deliberately off: the sheet must count members
                            "category": cat, "income": 8123.45 + i, "last_income": 9000.0, "measures": i % 5})
            member_rows += [{"id_number": f"ID{i:04d}{j}", "household_id": f"HH{i:04d}", "name": f"黄{i}-{j}",
                             "relation": "户主" if j == 0 else "子女", "labor_skill": "普通劳动力"}
                            for j in range(size)]
    hh = pd.DataFrame(hh_rows).assign(township_code=lambda d: d["village_code"].str[:9])
    members = pd.DataFrame(member_rows)
    regions = pd.DataFrame({"code": [*TOWNS, *VILLAGES], "name": [*TOWNS.values(), *VILLAGES.values()],
                            "level": ["乡镇"] * len(TOWNS) + ["村"] * len(VILLAGES)})
    regions["township_code"] = regions["code"].str[:9]
    for df in (hh, members, regions):
        df["source_row"] = np.arange(2, len(df) + 2)
    return regions, hh, members


@pytest.fixture
def drawn(tmp_path):
    def setup(url):
        eng = db.engine(url)
        regions, hh, members = county()
        with eng.begin() as conn:
            db.replace_period(conn, "regions", P, regions)
            db.replace_period(conn, "households", P, hh)
            db.replace_period(conn, "members", P, members)
        csv = sample.run_sample(eng, P, tmp_path)
        return eng, hh, members, csv
    return setup


def test_xlsx_call_sheets(db_url, drawn, tmp_path):
    from openpyxl import load_workbook

    eng, hh, members, csv = drawn(db_url)
    paths = callsheets.write_call_sheets(eng, P, tmp_path, pdf=False)
    assert [p.name for p in paths] == ["451302100_凤凰镇_电话抽查表.xlsx", "451302101_良江镇_电话抽查表.xlsx"]
    assert all(p.parent == tmp_path / "call_sheets" and callsheets.is_restricted(p) for p in paths)

    sizes = members.groupby("household_id").size()
    by_id = hh.set_index("household_id")
    for path, (code, name) in zip(paths, TOWNS.items()):
        wb = load_workbook(path)
        ws = wb.active
        assert name in ws["A1"].value
        assert ws["A2"].value.startswith("内部资料 严格保密")
        # dated the draw day at the start of the month, never the day the sheet is printed
        assert f"抽取日期：{P}-01" in ws["A3"].value and f"随机种子：{sample.default_seed(P)}" in ws["A3"].value
        assert "内部资料 严格保密" in ws.oddHeader.center.text and "restricted" in wb.properties.keywords
        assert [c.value for c in ws[4]] == callsheets.HEADERS
        assert ws.freeze_panes == "A5" and ws.print_title_rows == "$4:$4"
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
        rows = pd.DataFrame(list(ws.iter_rows(min_row=5, values_only=True)), columns=callsheets.HEADERS)
        expected = csv.loc[csv["乡镇代码"] == code].sort_values("抽取序号")
        assert rows["户编号"].tolist() == expected["户编号"].tolist()
        assert rows["序号"].tolist() == list(range(1, len(rows) + 1))
        assert rows["联系电话"].tolist() == by_id.loc[rows["户编号"], "phone"].tolist()  # full numbers, as text
        assert rows["村"].tolist() == [VILLAGES[v] for v in by_id.loc[rows["户编号"], "village_code"]]
        assert rows["家庭人口数"].tolist() == sizes.loc[rows["户编号"]].tolist()
        assert rows["人均纯收入"].tolist() == pytest.approx(by_id.loc[rows["户编号"], "income"].tolist())
        assert rows["帮扶措施数"].tolist() == by_id.loc[rows["户编号"], "measures"].tolist()
        assert set(rows["农户类别"]) <= {"脱贫户", "监测户"}
        assert rows[callsheets.OUTCOME_HEADERS].isna().all().all()  # left for the callers
    assert len(pd.read_excel(paths[1], header=3)) == 6  # the small township: all of its eligible

    only = callsheets.write_call_sheets(eng, P, tmp_path / "one", pdf=False, townships=["451302101"])
    assert [p.name for p in only] == ["451302101_良江镇_电话抽查表.xlsx"]


def test_sheets_of_a_draw_made_before_the_month_delivery_come_from_its_registry(sqlite_url, tmp_path):
    """The draw of October is made on 1 October from September's registry (October's arrives on
    6 November): the sheets carry that registry's names and phones, not empty cells."""
    from openpyxl import load_workbook

    eng = db.engine(sqlite_url)
    regions, hh, members = county()
    with eng.begin() as conn:
        for feed, df in (("regions", regions), ("households", hh), ("members", members)):
            db.replace_period(conn, feed, "2026-09", df)
    sample.run_sample(eng, P, tmp_path)
    assert set(sample.read_draws(eng, [P])["basis_period"]) == {"2026-09"}
    paths = callsheets.write_call_sheets(eng, P, tmp_path, pdf=False)
    assert [p.name for p in paths] == ["451302100_凤凰镇_电话抽查表.xlsx", "451302101_良江镇_电话抽查表.xlsx"]
    rows = pd.DataFrame(list(load_workbook(paths[0]).active.iter_rows(min_row=5, values_only=True)),
                        columns=callsheets.HEADERS)
    by_id = hh.set_index("household_id")
    assert rows["联系电话"].tolist() == by_id.loc[rows["户编号"], "phone"].tolist()
    assert rows["户主姓名"].notna().all() and set(rows["村"]) <= set(VILLAGES.values())


def test_pdf_call_sheet_is_marked_and_renders_chinese(sqlite_url, drawn, tmp_path):
    from pypdf import PdfReader

    eng, hh, _, csv = drawn(sqlite_url)
    paths = callsheets.write_call_sheets(eng, P, tmp_path, townships=["451302101"])
    pdf = next(p for p in paths if p.suffix == ".pdf")
    assert pdf.name == "451302101_良江镇_电话抽查表.pdf" and callsheets.is_restricted(pdf)
    reader = PdfReader(pdf)
    text = "".join(page.extract_text() for page in reader.pages)
    assert "内部资料 严格保密" in text and "良江镇" in text
    for header in callsheets.HEADERS:
        assert header in text
    phones = hh.set_index("household_id").loc[csv.loc[csv["乡镇代码"] == "451302101", "户编号"], "phone"]
    assert all(p in text for p in phones)
    assert "严格保密" in (reader.metadata.get("/Keywords") or "")
    fonts = {str(f.get_object()["/BaseFont"]) for page in reader.pages
             for f in page["/Resources"]["/Font"].values()}
    assert any("CJK" in f for f in fonts), fonts  # Chinese set in a CJK font, not boxes
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                       check=True)
        assert list(tmp_path.glob("page*.png"))


def test_no_draw_no_sheets(sqlite_url, tmp_path):
    assert callsheets.write_call_sheets(db.engine(sqlite_url), P, tmp_path) == []


def test_is_restricted():
    assert callsheets.is_restricted("out/call_sheets/451302100_凤凰镇_电话抽查表.pdf")
    assert not callsheets.is_restricted("out/月通报_2026-10.pdf")
