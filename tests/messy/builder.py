"""A corpus of messy department exports (data contract section 1, "Messy exports").

Every case starts from one tiny, valid county delivery (`base()`: 1 township, 2 villages,
10 households of 2, medical and disability rows) and spoils it the way county departments
do: full-width digits, titles above the header, 合计 rows, unquoted thousands separators,
IDs Excel stored as numbers, Big5 and UTF-16 files, duplicates, NUL bytes, … The files are
written deterministically (no clock, no randomness), so the corpus is the same on every run.

    python tests/messy/builder.py OUT     # writes every case into OUT/<case>/<period>/

tests/test_messy.py builds each case in a temporary folder and asserts its exact outcome.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sys
from pathlib import Path

from fangpin import feeds as F
from fangpin.ids import id_problem, make_id

PERIOD = "2026-10"
T = "451302100"
V1, V2 = T + "201", T + "202"
N_HOUSEHOLDS = 10


def pid(n: int, born: dt.date = dt.date(1980, 5, 17)) -> str:
    return make_id("451302", born, n)


def base() -> dict[str, list[dict]]:
    """The clean delivery: rows (Chinese header -> text) per feed."""
    rows: dict[str, list[dict]] = {
        "regions": [{"行政区划代码": T, "名称": "良塘镇", "级别": "乡镇"},
                    {"行政区划代码": V1, "名称": "大村", "级别": "村"},
                    {"行政区划代码": V2, "名称": "小村", "级别": "村"}],
        "households": [], "members": [], "medical": [], "disability": [],
    }
    for i in range(N_HOUSEHOLDS):
        hid = f"H{i + 1:03d}"
        head, spouse = pid(2 * i), pid(2 * i + 1, dt.date(1982, 3, 9))
        rows["households"].append({
            "户编号": hid, "行政区划代码": V1 if i % 2 == 0 else V2, "户主姓名": f"韦{i + 1}",
            "户主身份证号": head, "联系电话": f"1380000{i:04d}", "家庭人口数": "2", "农户类别": "一般农户",
            "监测对象类别": "", "识别监测时间": "", "风险是否已消除": "", "消除监测时间": "",
            "人均纯收入": "12000", "上年人均纯收入": "11800.5", "帮扶措施数": "0"})
        rows["members"].append({"身份证号": head, "户编号": hid, "姓名": f"韦{i + 1}", "与户主关系": "户主",
                                "劳动技能": "普通劳动力"})
        rows["members"].append({"身份证号": spouse, "户编号": hid, "姓名": f"覃{i + 1}", "与户主关系": "配偶",
                                "劳动技能": "普通劳动力"})
    for i in range(4):
        rows["medical"].append({"身份证号": pid(2 * i), "入院日期": f"2026-10-0{i + 1}", "出院日期": f"2026-10-1{i}",
                                "医疗总费用": f"{3000 + 100 * i}", "个人自付": f"{1200 + 10 * i}.5"})
    for i, kind in enumerate(("肢体", "视力", "智力")):
        rows["disability"].append({"身份证号": pid(2 * i + 1, dt.date(1982, 3, 9)), "残疾类别": kind,
                                   "残疾等级": "二级", "发证日期": f"2026-09-2{i}"})
    return rows


def csv_text(headers: list[str], rows: list[list[str]], above: list[list[str]] = ()) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in list(above) + [headers] + rows:
        w.writerow(r)
    return buf.getvalue()


def table(rows: list[dict], feed: str) -> tuple[list[str], list[list[str]]]:
    headers = F.FEEDS[feed].headers
    return headers, [[r.get(h, "") for h in headers] for r in rows]


def write_delivery(folder: Path, rows: dict[str, list[dict]], skip: tuple[str, ...] = (),
                   encoding: str = "utf-8-sig") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for feed, feed_rows in rows.items():
        if feed in skip:
            continue
        headers, body = table(feed_rows, feed)
        (folder / f"{feed}.csv").write_text(csv_text(headers, body), encoding=encoding)
    return folder


def write_xlsx(path: Path, lines: list[list]) -> Path:
    """An xlsx whose cells keep Python types (a float stays an Excel number cell), deterministic."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for line in lines:
        ws.append(line if line else [None])
    wb.properties.created = wb.properties.modified = dt.datetime(2026, 11, 1)
    wb.save(path)
    return path


def as_excel_number(idn: str) -> float:
    """What Excel keeps of an 18-digit ID typed into a number cell: 15 significant digits."""
    return float(f"{int(idn):.14e}")


def excel_number_text(idn: str) -> str:
    """The cell as the reader turns the number back into text."""
    return str(int(as_excel_number(idn)))


def lucky_number_id() -> str:
    """An ID whose Excel-mangled number happens to pass the check digit (about 1 in 11 do)."""
    for n in range(1, 5000):
        idn = pid(n, dt.date(1975, 1, 1))
        if idn.endswith("X"):
            continue
        mangled = excel_number_text(idn)
        if mangled != idn and id_problem(mangled) is None:
            return idn
    raise AssertionError("no ID found")


# ---- the corpus: case name -> builder(folder) -------------------------------------------------

def _medical_with(folder: Path, extra_lines: list[list[str]] | None = None, raw: str | None = None) -> Path:
    rows = base()
    write_delivery(folder, rows, skip=("medical",))
    if raw is not None:
        (folder / "medical.csv").write_text(raw, encoding="utf-8")
    else:
        headers, body = table(rows["medical"], "medical")
        (folder / "medical.csv").write_text(csv_text(headers, body + (extra_lines or [])), encoding="utf-8")
    return folder


def case_full_width(folder: Path) -> Path:
    rows = base()
    m = rows["medical"]
    m[0]["医疗总费用"], m[0]["个人自付"] = "１３０.６７", "１２０"          # full-width digits
    m[1]["身份证号"] = "\u00a0" + m[1]["身份证号"] + "\t\u200b"             # no-break, tab, zero-width
    m[1]["医疗总费用"], m[1]["个人自付"] = "5,200.50", "5200元"            # thousands separator, 元
    m[2]["入院日期"] = "２０２６-１０-０３"                                 # full-width date
    m[3]["身份证号"] = "".join(chr(ord(c) + 0xFEE0) for c in m[3]["身份证号"])  # full-width ID
    m.append({"身份证号": x_id().lower(), "入院日期": "2026/10/5", "出院日期": "20261006",   # lower-case x
              "医疗总费用": " ￥1,000 ", "个人自付": "　100.00　"})
    return write_delivery(folder, rows)


def x_id() -> str:
    """An ID whose check character is X."""
    return next(pid(n, dt.date(1990, 1, 1)) for n in range(1000) if pid(n, dt.date(1990, 1, 1))[-1] == "X")


def case_numeric_ids_xlsx(folder: Path) -> Path:
    rows = base()
    write_delivery(folder, rows, skip=("medical",))
    lucky = lucky_number_id()
    rows["members"].append({"身份证号": lucky, "户编号": "H001", "姓名": "韦幸", "与户主关系": "子",
                            "劳动技能": "普通劳动力"})
    rows["households"][0]["家庭人口数"] = "3"
    write_delivery(folder, {k: rows[k] for k in ("households", "members")})
    headers, body = table(rows["medical"], "medical")
    lines = [headers]
    for i, r in enumerate(body):
        r = list(r)
        if i in (1, 2):                          # lines 3 and 4 (pid(0) ends in X: not a number)
            r[0] = as_excel_number(r[0])       # an Excel number cell
        lines.append(r)
    lines.append([as_excel_number(lucky), "2026-10-05", "2026-10-06", "100", "10"])
    write_xlsx(folder / "medical.xlsx", lines)
    return folder


def case_numeric_ids_text(folder: Path) -> Path:
    rows = base()
    headers, body = table(rows["medical"], "medical")
    body[0][0] = "4.51302E+17"
    body[1][0] = body[1][0][:17] + "0.0"         # 451302…0.0: a float's text
    return _medical_with(folder, raw=csv_text(headers, body))


def case_title_rows(folder: Path) -> Path:
    rows = base()
    write_delivery(folder, rows, skip=("medical", "disability"))
    headers, body = table(rows["medical"], "medical")
    (folder / "medical.csv").write_text(csv_text(headers, body, above=[["2026年10月住院结算明细"], [], ["制表单位：医保局", "", ""]]),
                                        encoding="utf-8-sig")
    dh, db = table(rows["disability"], "disability")
    write_xlsx(folder / "disability.xlsx", [["残疾人证发放情况"], []] + [dh] + db)
    return folder


def case_total_row(folder: Path) -> Path:
    rows = base()
    headers, body = table(rows["medical"], "medical")
    total = ["合计", "", "", "12600", "4846"]
    return _medical_with(folder, raw=csv_text(headers, body + [total]))


def case_overflow(folder: Path) -> Path:
    rows = base()
    headers, body = table(rows["medical"], "medical")
    text = csv_text(headers, body)
    bad = f"{pid(8)},2026-10-05,2026-10-09,7,556.52,300\n"      # unquoted 7,556.52: one cell too many
    return _medical_with(folder, raw=text + bad)


def case_duplicate_columns(folder: Path) -> Path:
    rows = base()
    write_delivery(folder, rows, skip=("medical", "disability"))
    headers, body = table(rows["medical"], "medical")
    (folder / "medical.csv").write_text(csv_text(headers + ["备注", "备注"], [r + ["a", "b"] for r in body]),
                                        encoding="utf-8")
    dh, db = table(rows["disability"], "disability")
    (folder / "disability.csv").write_text(csv_text(dh + ["身份证号"], [r + [r[0]] for r in db]), encoding="utf-8")
    return folder


def case_encodings(folder: Path) -> Path:
    """medical UTF-16 with BOM, disability GB18030, members UTF-8 without BOM; education Big5,
    health binary."""
    rows = base()
    write_delivery(folder, rows, skip=("medical", "disability", "members"))
    for feed, enc in (("medical", "utf-16"), ("disability", "gb18030"), ("members", "utf-8")):
        headers, body = table(rows[feed], feed)
        (folder / f"{feed}.csv").write_bytes(csv_text(headers, body).encode(enc))
    edu = csv_text(F.FEEDS["education"].headers, [[pid(0), "小學", "在讀"], [pid(1, dt.date(1982, 3, 9)), "初中", "輟學"]])
    (folder / "education.csv").write_bytes(edu.replace("身份证号", "身份證號").replace("学段", "學段")
                                           .replace("学籍状态", "學籍狀態").encode("big5"))
    (folder / "health.csv").write_bytes(b"\x00\x01\x02\x03binary\x00" * 20)
    return folder


def case_duplicates(folder: Path) -> Path:
    rows = base()
    m, d = rows["medical"], rows["disability"]
    m.append(dict(m[0]))                         # exact copy: 重复
    m.append(dict(m[0]))                         # a third copy: 重复
    m.append({**m[1], "个人自付": "999"})        # same person and dates, other amount: 重复且矛盾 (both)
    d.append({**d[0], "残疾等级": "一级"})       # same person and date, other grade: 重复且矛盾 (both)
    d.append(dict(d[2]))                         # exact copy: 重复
    return write_delivery(folder, rows)


def case_text_limits(folder: Path) -> Path:
    rows = base()
    mem = rows["members"]
    mem[1]["姓名"] = "覃" * 51                    # over 50
    mem[3]["姓名"] = "覃\x00二"                   # NUL
    mem[5]["姓名"] = "\\N"                        # stored exactly as delivered
    mem[7]["与户主关系"] = "配" * 2001            # over 2000
    mem[9]["姓名"] = "覃\x07九"                   # BEL
    return write_delivery(folder, rows)


def case_unreadable(folder: Path) -> Path:
    rows = base()
    write_delivery(folder, rows, skip=("medical", "disability"))
    headers, body = table(rows["medical"], "medical")
    write_xlsx(folder / "medical.csv", [headers] + body)          # an xlsx named .csv
    write_xlsx(folder / "disability.xlsx", [F.FEEDS["disability"].headers] + table(rows["disability"], "disability")[1])
    data = (folder / "disability.xlsx").read_bytes()
    (folder / "disability.xlsx").write_bytes(data[: len(data) // 2])  # truncated
    return folder


CASES = {
    "full_width": case_full_width, "numeric_ids_xlsx": case_numeric_ids_xlsx,
    "numeric_ids_text": case_numeric_ids_text, "title_rows": case_title_rows, "total_row": case_total_row,
    "overflow": case_overflow, "duplicate_columns": case_duplicate_columns, "encodings": case_encodings,
    "duplicates": case_duplicates, "text_limits": case_text_limits, "unreadable": case_unreadable,
}


def build(case: str, root: Path) -> Path:
    return CASES[case](Path(root) / case / PERIOD)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "messy-corpus")
    for name in CASES:
        print(build(name, out))
