"""Reading a delivery: finds each feed's file, detects its encoding, finds and maps the header.

Everything is read as text so that no value is mangled before validation decides what it
means. Each feed comes back twice, row for row:
- `frame`: the cells normalised (fangpin.quality.normalise: NFKC, blanks trimmed, upper-case X
  in IDs, amounts without thousands separators or 元), "" for an empty cell;
- `original`: the cells exactly as delivered (what a quarantined row shows).
Each frame keeps a `source_row` column: the row number a person sees in Excel or a text
editor (row 1 is the file's first line, so with a title row above it the header is row 2).

What the reader finds on its own is kept on the RawFeed for the validator: rows above the
header that were skipped (title rows, blank rows: reported in the summary's 说明), rows with
more cells than the header, and ID cells that Excel stored as numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fangpin.feeds import FEEDS, ID_NUMBER, Feed
from fangpin.quality import normalise as N

log = logging.getLogger(__name__)
SUFFIXES = (".csv", ".xlsx")
HEADER_SEARCH_ROWS = 10      # the header is looked for in the first 10 rows
OVERFLOW_PREFIX = "列"       # cells past the header are kept as 列N (N = the column number)


class FeedRejected(Exception):
    """A delivered file that cannot be read at all; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}：{problem}")


@dataclass
class RawFeed:
    feed: Feed
    path: Path
    encoding: str            # utf-8 | utf-8-sig | gb18030 | utf-16 | xlsx
    frame: pd.DataFrame      # normalised text: internal column names + extra columns + source_row
    extra_columns: list[str]
    original: pd.DataFrame | None = None     # the same rows and columns as delivered
    skipped: list[str] = field(default_factory=list)   # notes on rows skipped above the header
    header_row: int = 1                                 # the header's row number in the file
    overflow: np.ndarray | None = None                  # rows with cells past the header (bool)
    numeric_cells: dict[str, np.ndarray] = field(default_factory=dict)  # column -> xlsx number cell
    absent_optional: list[str] = field(default_factory=list)  # optional headers the file lacks

    def __post_init__(self):
        if self.original is None:
            self.original = self.frame
        if self.overflow is None:
            self.overflow = np.zeros(len(self.frame), dtype=bool)


def find_file(data_dir: Path, feed: str) -> Path | None:
    """The file delivering `feed` in a drop folder, or None when it was not delivered."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"delivery folder not found: {data_dir}")
    matches = sorted(p for p in data_dir.iterdir()
                     if p.stem.lower() == feed and p.suffix.lower() in SUFFIXES)
    if len(matches) > 1:
        raise FeedRejected(matches[0], f"同一数据项有多个文件：{', '.join(p.name for p in matches)}")
    if matches and not matches[0].is_file():
        raise FeedRejected(matches[0], "不是文件（是文件夹或特殊文件），无法读取")
    return matches[0] if matches else None


# ---- encodings -------------------------------------------------------------------------------

_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
)
_SIGNATURES = (
    (b"PK\x03\x04", "文件实际是xlsx/zip格式（Excel工作簿），但扩展名是.csv：请改名为.xlsx或另存为CSV"),
    (b"\xd0\xcf\x11\xe0", "文件是旧版Excel（.xls）格式，无法读取：请另存为.xlsx或CSV"),
    (b"%PDF", "文件是PDF，不是表格"),
)
_HANZI = re.compile(r"[\u4e00-\u9fff]")


def _common_hanzi_share(text: str) -> float:
    """Share of the Chinese characters that are among GB2312's 6,763 (everyday simplified) ones.

    Simplified-Chinese exports are almost entirely GB2312 characters; Big5 bytes decoded as
    GB18030 come out as rare characters, kana and symbols.
    """
    chars = _HANZI.findall(text[:20000])
    odd = len(re.findall(r"[\u3040-\u30ff\u0370-\u03ff\u0400-\u04ff\u2500-\u257f\ue000-\uf8ff]", text[:20000]))
    if not chars and not odd:
        return 1.0
    common = 0
    for ch in chars:
        try:
            ch.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common / (len(chars) + odd)


def decode(raw: bytes, path: Path, headers: list[str] | None = None) -> tuple[str, str]:
    """Text and encoding of a CSV file: UTF-8 (with or without BOM), GB18030/GBK or UTF-16 with BOM.

    Anything else is rejected with a message naming the encoding found (Big5, UTF-32, UTF-16
    without BOM, a binary or Excel file named .csv). `headers` (the feed's Chinese headers) tell
    GBK text from Big5 text that happens to decode as GB18030.
    """
    for sig, problem in _SIGNATURES:
        if raw.startswith(sig):
            raise FeedRejected(path, problem)
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            if enc == "UTF-32":
                raise FeedRejected(path, "编码为UTF-32，无法读取：请另存为UTF-8或GBK编码的CSV")
            try:
                return raw.decode(enc), enc
            except UnicodeDecodeError:
                raise FeedRejected(path, f"编码声明为{enc.upper().replace('-SIG', '')}（带BOM），但内容无法按此解码"
                                         "：文件已损坏或编码混杂") from None
    if b"\x00" in raw[:4096]:
        even, odd = raw[0:4096:2].count(0), raw[1:4096:2].count(0)
        if max(even, odd) > 0.3 * min(len(raw), 4096) / 2:
            raise FeedRejected(path, "编码为UTF-16（无BOM），无法可靠识别：请另存为UTF-8或GBK编码的CSV")
        raise FeedRejected(path, "不是文本表格（含二进制内容）")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        if headers and any(h in text[:20000] for h in headers):
            return text, "gb18030"
        if _common_hanzi_share(text) >= 0.85:
            return text, "gb18030"
    if _looks_big5(raw):
        raise FeedRejected(path, "编码为Big5（繁体中文），无法读取：请另存为UTF-8或GBK编码的CSV")
    if text is not None:
        return text, "gb18030"
    raise FeedRejected(path, "编码无法识别（不是UTF-8、GBK/GB18030，也不是带BOM的UTF-16）")


def _looks_big5(raw: bytes) -> bool:
    try:
        text = raw.decode("big5")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp950")
        except UnicodeDecodeError:
            return False
    return bool(_HANZI.search(text))


# ---- cells -----------------------------------------------------------------------------------

def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_xlsx(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The first sheet's cells as text, and where a cell was stored as a number (python-calamine)."""
    from python_calamine import CalamineWorkbook

    try:
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)
    except PermissionError:
        raise FeedRejected(path, "无法读取文件（没有读取权限）") from None
    except Exception as exc:  # calamine raises its own error types for zip, xml and format problems
        raise FeedRejected(path, f"不是有效的xlsx文件，可能已损坏或不完整（{type(exc).__name__}）") from None
    width = max((len(r) for r in rows), default=0)
    numeric = np.array([[isinstance(v, (int, float)) and not isinstance(v, bool) for v in r]
                        + [False] * (width - len(r)) for r in rows], dtype=bool).reshape(len(rows), width)
    cells = pd.DataFrame([[_cell(v) for v in r] + [""] * (width - len(r)) for r in rows],
                         columns=range(width), dtype=object)
    return cells, numeric


def _read_csv(path: Path, headers: list[str]) -> tuple[pd.DataFrame, str]:
    """The cells as text. pandas' C parser reads the regular shape; a file whose rows are longer
    than its first row (which pandas cannot read as such) is read with the csv module instead."""
    try:
        raw = path.read_bytes()
    except PermissionError:
        raise FeedRejected(path, "无法读取文件（没有读取权限）") from None
    except OSError as exc:
        raise FeedRejected(path, f"无法读取文件（{exc.strerror or type(exc).__name__}）") from None
    text, encoding = decode(raw, path, headers)
    try:
        frame = pd.read_csv(io.StringIO(text), header=None, dtype=str, na_filter=False, skip_blank_lines=False,
                            engine="c")
    except pd.errors.EmptyDataError:
        return pd.DataFrame(), encoding
    except pd.errors.ParserError:
        try:
            rows = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise FeedRejected(path, f"不是有效的CSV表格（{exc}）") from None
        width = max((len(r) for r in rows), default=0)
        frame = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], columns=range(width), dtype=object)
    return frame.fillna("").astype(object), encoding


def _header_key(value) -> str:
    """A header cell compared with the contract's: NFKC, no blanks anywhere, no BOM."""
    s = unicodedata.normalize("NFKC", str(value))
    return re.sub(f"[{re.escape(N.BLANKS)}]", "", s)


def _find_header(cells: pd.DataFrame, feed: Feed, path: Path) -> int:
    """Position of the header row among the first rows (the one naming most contract columns)."""
    known = set(feed.headers)
    best, best_n = None, 0
    for i in range(min(HEADER_SEARCH_ROWS, len(cells))):
        n = len(known & {_header_key(v) for v in cells.iloc[i]})
        if n == len(known):
            return i
        if n > best_n:
            best, best_n = i, n
    if best is None:
        raise FeedRejected(path, f"表头无法识别（前{HEADER_SEARCH_ROWS}行中没有找到表头）：应为 {'、'.join(feed.headers)}")
    return best


def _skipped_note(cells: pd.DataFrame, header_at: int) -> list[str]:
    if header_at == 0:
        return []
    parts = []
    for i in range(header_at):
        texts = [str(v).strip() for v in cells.iloc[i] if str(v).strip()]
        if not texts:
            parts.append(f"第{i + 1}行空行")
        else:
            title = " ".join(texts)
            parts.append(f"第{i + 1}行标题“{title[:30]}{'…' if len(title) > 30 else ''}”")
    rows = f"第1行" if header_at == 1 else f"第1–{header_at}行"
    return [f"表头在第{header_at + 1}行，已跳过表头上方的{rows}（{'；'.join(parts)}）"]


def read_feed(path: Path, feed: Feed | str) -> RawFeed:
    """Reads one delivered file; raises FeedRejected when it cannot be read as this feed.

    Unknown columns (also duplicated unknown ones) are kept as extra columns and ignored; a
    duplicated contract column rejects the file. Cells past the header's last column are kept
    as 列N columns and their rows flagged (`overflow`): the validator quarantines such a row
    (列数多于表头), it never shifts or drops its cells.
    """
    feed = FEEDS[feed] if isinstance(feed, str) else feed
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FeedRejected(path, f"无法读取文件（{exc.strerror or type(exc).__name__}）") from None
    if size == 0:
        raise FeedRejected(path, "文件为空")
    numeric = None
    if path.suffix.lower() == ".xlsx":
        try:
            with open(path, "rb") as fh:
                head = fh.read(4)
        except PermissionError:
            raise FeedRejected(path, "无法读取文件（没有读取权限）") from None
        if head != b"PK\x03\x04":
            raise FeedRejected(path, "不是有效的xlsx文件（扩展名是.xlsx，但内容不是xlsx工作簿，可能是CSV或旧版.xls改了扩展名）")
        cells, numeric = _read_xlsx(path)
        encoding = "xlsx"
    else:
        cells, encoding = _read_csv(path, feed.headers)
    cells = cells.astype(str) if len(cells.columns) else cells
    if not len(cells.columns):
        raise FeedRejected(path, "文件为空（没有表头）")
    blank = cells.apply(lambda col: N.strip_series(col) == "")
    filled = ~blank.to_numpy()
    rows_with_content = filled.any(axis=1)
    if not rows_with_content.any():
        raise FeedRejected(path, "文件为空（没有表头）")
    h = _find_header(cells, feed, path)
    last_row = int(np.flatnonzero(rows_with_content)[-1])
    header = [_header_key(v) for v in cells.iloc[h]]
    width = max((i + 1 for i, v in enumerate(header) if v), default=0)
    header = header[:width]
    known = {c.zh: c for c in feed.columns}
    dupes = sorted({x for x in header if x in known and header.count(x) > 1})
    if dupes:
        raise FeedRejected(path, f"表头重复：{'、'.join(dupes)}（同一列出现多次，无法判断以哪一列为准）")
    missing = [x for x in feed.required_headers if x not in header]
    if missing:
        raise FeedRejected(path, f"缺少列：{'、'.join(missing)}")
    names, seen = [], {}
    for i, x in enumerate(header):
        if x in known:
            names.append(known[x].name)
            continue
        x = x or f"{OVERFLOW_PREFIX}{i + 1}"
        seen[x] = seen.get(x, 0) + 1
        names.append(x if seen[x] == 1 else f"{x}（{seen[x]}）")
    body_slice = slice(h + 1, last_row + 1)
    body = cells.iloc[body_slice]
    body_filled = filled[body_slice]
    keep = body_filled.any(axis=1)  # entirely empty rows (blank lines, trailing Excel junk) are dropped
    overflow_cols = [j for j in range(width, len(cells.columns)) if body_filled[:, j].any()]
    overflow = body_filled[:, overflow_cols].any(axis=1) if overflow_cols else np.zeros(len(body), dtype=bool)
    cols = list(range(width)) + overflow_cols
    col_names = names + [f"{OVERFLOW_PREFIX}{j + 1}" for j in overflow_cols]
    original = pd.DataFrame(body.iloc[:, cols].to_numpy(dtype=object), columns=col_names)
    original.insert(0, "source_row", range(h + 2, h + 2 + len(original)))
    original = original[keep].reset_index(drop=True)
    frame = original.copy(deep=False)  # every column is replaced below: no copy of the cells needed
    by_name = {c.name: c for c in feed.columns}
    for name in col_names:
        frame[name] = N.clean_series(frame[name], by_name.get(name))
    extra = [n for n in names if n not in by_name and not (n.startswith(OVERFLOW_PREFIX) and n[1:].isdigit()
                                                           and not any(frame[n] != ""))]
    numeric_cells = {}
    if numeric is not None:
        for c in feed.columns:
            if c.kind == ID_NUMBER:
                j = header.index(c.zh)
                numeric_cells[c.name] = numeric[body_slice, j][keep]
    # an optional column the file does not have stays absent here (the quarantine shows the file's
    # own columns); the check frame treats it as empty (fangpin.quality.prepare)
    absent = [c.zh for c in feed.columns if c.optional and c.zh not in header]
    log.info("read %s: %d rows, encoding %s, header at row %d", path.name, len(frame), encoding, h + 1)
    return RawFeed(feed, path, encoding, frame, extra, original=original, skipped=_skipped_note(cells, h),
                   header_row=h + 1, overflow=overflow[keep], numeric_cells=numeric_cells, absent_optional=absent)
