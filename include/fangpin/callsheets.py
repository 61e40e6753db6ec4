"""Call sheets (电话抽查表) for the spot-check team: one .xlsx (and one PDF) per township.

RESTRICTED: the sheets carry full phone numbers (data contract section 4). They are marked
内部资料 严格保密 in the title rows, the printed page header, the file properties, and their
names end in `_电话抽查表`; `is_restricted(path)` recognises them so that mailing code can
refuse to attach them to anything but the spot-check team's mail. Nothing here logs a phone.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from fangpin.config import settings
from fangpin.periods import Month
from fangpin.sample import read_draws
from fangpin.store.db import read_feed

log = logging.getLogger(__name__)

RESTRICTED = "内部资料 严格保密：含个人联系方式，仅限数据核查小组电话抽查使用，不得外传、转发或张贴"
RESTRICTED_SHORT = "内部资料 严格保密"
SUFFIX = "_电话抽查表"
FOLDER = "call_sheets"
TEMPLATE = "call_sheet.html"

# (header, width in characters) — the facts to confirm, then the columns the caller fills in.
COLUMNS = [
    ("序号", 6), ("村", 14), ("户编号", 20), ("户主姓名", 10), ("联系电话", 14), ("农户类别", 9),
    ("家庭人口数", 10), ("人均纯收入", 11), ("帮扶措施数", 10),
    ("是否接通", 9), ("信息是否一致", 12), ("帮扶是否落实", 12), ("备注", 26), ("抽查人", 9), ("抽查日期", 12),
]
HEADERS = [h for h, _ in COLUMNS]
OUTCOME_HEADERS = HEADERS[9:]
YES_NO_HEADERS = ("是否接通", "信息是否一致", "帮扶是否落实")
INSTRUCTIONS = ("填写说明：是否接通、信息是否一致、帮扶是否落实填“是”或“否”（未接通的，后两项填“否”）；"
                "抽查日期填“2026-10-05”格式；核对内容为系统登记的家庭人口数、人均纯收入和帮扶措施。")


def is_restricted(path) -> bool:
    """True for a call sheet (full phone numbers): never attach it to leaders' or public mail."""
    p = Path(path)
    return p.stem.endswith(SUFFIX) or p.parent.name == FOLDER


def _safe(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s]+', "", str(name)) or "未命名"


def call_sheet_rows(eng: Engine, period: str, townships: list[str] | None = None) -> pd.DataFrame:
    """One row per household of the period's recorded draw, with what the caller needs, from the
    registry delivery the draw was made from (its basis_period).

    Columns: township_code, township_name, position, village_name, household_id, head_name, phone,
    category, size (members in the registry; the declared 家庭人口数 when none are loaded), income,
    measures, seed, drawn_at. Sorted by township, then draw position.
    """
    period = str(Month.parse(str(period)))
    draws = read_draws(eng, [period])
    if townships is not None:
        draws = draws[draws["township_code"].isin(townships)]
    # the registry the draw was made from (recorded with it): at the start of the month, the
    # month's own delivery has not arrived yet
    basis = draws["basis_period"].dropna()
    source = str(basis.iloc[0]) if len(basis) else period
    hh = read_feed(eng, "households", source, columns=[
        "household_id", "village_code", "head_name", "phone", "category", "declared_size", "income", "measures"])
    members = read_feed(eng, "members", source, columns=["household_id"])["household_id"].value_counts()
    regions = read_feed(eng, "regions", source, columns=["code", "name"])
    names = regions.drop_duplicates("code").set_index("code")["name"]

    rows = draws.merge(hh, on="household_id", how="left")
    counted = rows["household_id"].map(members)
    rows["size"] = counted.where(counted.notna(), rows["declared_size"]).astype("Int64")
    rows["township_name"] = rows["township_code"].map(names)
    rows["village_name"] = rows["village_code"].map(names).fillna(rows["village_code"])
    cols = ["township_code", "township_name", "position", "village_name", "household_id", "head_name", "phone",
            "category", "size", "income", "measures", "seed", "drawn_at"]
    return rows[cols].sort_values(["township_code", "position"], ignore_index=True)


def _title(township_name: str, month: Month) -> str:
    return f"{settings().county}{township_name}{month.label}防返贫动态监测电话抽查表"


def _meta(group: pd.DataFrame, month: Month) -> str:
    drawn_on = pd.Timestamp(group["drawn_at"].iloc[0]).date()
    return (f"抽查期间：{month.label}　抽取户数：{len(group)}　随机种子：{int(group['seed'].iloc[0])}　"
            f"抽取日期：{drawn_on:%Y-%m-%d}")


def _cell_values(r) -> list:
    def num(v, kind):
        return None if pd.isna(v) else kind(v)

    return [int(r.position), r.village_name, r.household_id, r.head_name,
            None if pd.isna(r.phone) else str(r.phone), r.category, num(r.size, int), num(r.income, float),
            num(r.measures, int)] + [None] * len(OUTCOME_HEADERS)


def write_xlsx(group: pd.DataFrame, month: Month, path: Path) -> Path:
    """One township's call sheet as .xlsx (title, restricted marking, headers in row 4, data from row 5)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    township = group["township_name"].iloc[0] if pd.notna(group["township_name"].iloc[0]) else group[
        "township_code"].iloc[0]
    title = _title(township, month)
    wb = Workbook()
    ws = wb.active
    ws.title = "电话抽查表"
    last_col = get_column_letter(len(COLUMNS))
    header_row, first = 4, 5
    last = first + len(group) - 1

    for row, text, font in ((1, title, Font(size=16, bold=True)),
                            (2, RESTRICTED, Font(size=11, bold=True, color="B00000")),
                            (3, f"{_meta(group, month)}　{INSTRUCTIONS}", Font(size=9, color="444444"))):
        ws.merge_cells(f"A{row}:{last_col}{row}")
        cell = ws.cell(row=row, column=1, value=text)
        cell.font, cell.alignment = font, Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.row_dimensions[1].height, ws.row_dimensions[2].height, ws.row_dimensions[3].height = 28, 20, 30

    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for j, (header, width) in enumerate(COLUMNS, start=1):
        c = ws.cell(row=header_row, column=j, value=header)
        c.font, c.border = Font(bold=True), border
        c.fill = PatternFill("solid", fgColor="F1E4E4" if header not in OUTCOME_HEADERS else "FFF6D5")
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(j)].width = width
    for i, r in enumerate(group.itertuples(index=False), start=first):
        for j, value in enumerate(_cell_values(r), start=1):
            c = ws.cell(row=i, column=j, value=value)
            c.border = border
            if HEADERS[j - 1] in ("户编号", "联系电话"):
                c.number_format = "@"  # keep as text: no 1.38E+10, no lost leading digits
            elif HEADERS[j - 1] == "人均纯收入":
                c.number_format = "#,##0.00"
        ws.row_dimensions[i].height = 22

    if len(group):
        yes_no = DataValidation(type="list", formula1='"是,否"', allow_blank=True,
                                error="请填写“是”或“否”", errorTitle="取值错误")
        ws.add_data_validation(yes_no)
        for header in YES_NO_HEADERS:
            col = get_column_letter(HEADERS.index(header) + 1)
            yes_no.add(f"{col}{first}:{col}{last}")

    ws.freeze_panes = f"A{first}"
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.oddHeader.center.text = f"{RESTRICTED_SHORT}　含个人联系方式"
    ws.oddHeader.center.color = "B00000"
    ws.oddHeader.center.font = "Noto Sans CJK SC,Bold"
    ws.oddFooter.center.text = "第 &P 页 / 共 &N 页"

    wb.properties.title = title
    wb.properties.subject = RESTRICTED
    wb.properties.keywords = f"{RESTRICTED_SHORT};restricted"
    wb.properties.category = "restricted"
    wb.properties.creator = settings().issuing_office
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def write_pdf(group: pd.DataFrame, month: Month, path: Path) -> Path:
    from fangpin.render import render_pdf

    township = group["township_name"].iloc[0] if pd.notna(group["township_name"].iloc[0]) else group[
        "township_code"].iloc[0]
    rows = [dict(zip(HEADERS, _cell_values(r))) for r in group.itertuples(index=False)]
    context = {
        "title": _title(township, month),
        "period_label": month.label,
        "issued_on": pd.Timestamp(group["drawn_at"].iloc[0]).date(),
        "restricted": RESTRICTED,
        "restricted_short": RESTRICTED_SHORT,
        "meta": _meta(group, month),
        "instructions": INSTRUCTIONS,
        "headers": HEADERS,
        "outcome_headers": OUTCOME_HEADERS,
        "rows": rows,
    }
    return render_pdf(TEMPLATE, context, path)


def write_call_sheets(eng: Engine, period: str, out_dir: Path, pdf: bool = True,
                      townships: list[str] | None = None) -> list[Path]:
    """out_dir/call_sheets/<乡镇代码>_<乡镇名>_电话抽查表.xlsx (+ .pdf) for every township of the
    period's recorded draw (or only `townships`). Returns the files written."""
    month = Month.parse(str(period))
    rows = call_sheet_rows(eng, str(month), townships)
    if rows.empty:
        log.warning("no spot-check draw recorded for %s: no call sheets written", month)
        return []
    folder = Path(out_dir) / FOLDER
    written: list[Path] = []
    for code, group in rows.groupby("township_code", sort=True):
        name = group["township_name"].iloc[0]
        stem = f"{code}_{_safe(name if pd.notna(name) else code)}{SUFFIX}"
        written.append(write_xlsx(group, month, folder / f"{stem}.xlsx"))
        if pdf:
            written.append(write_pdf(group, month, folder / f"{stem}.pdf"))
    log.info("call sheets %s: %d townships, %d files (restricted)", month, rows["township_code"].nunique(),
             len(written))
    return written
