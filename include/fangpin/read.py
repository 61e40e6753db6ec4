"""Reading a delivery: finds each feed's file, detects its encoding, maps Chinese headers.

Everything is read as text (stripped strings, "" for an empty cell) so that no value is
mangled before validation decides what it means. Each frame keeps a `source_row` column:
the row number a person sees in Excel or a text editor (the header is row 1).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fangpin.feeds import FEEDS, Feed

log = logging.getLogger(__name__)
SUFFIXES = (".csv", ".xlsx")
ENCODINGS = ("utf-8-sig", "gb18030")


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
    encoding: str            # utf-8 | utf-8-sig | gb18030 | xlsx
    frame: pd.DataFrame      # internal column names + extra columns + source_row
    extra_columns: list[str]
    absent_optional: list[str] = field(default_factory=list)  # optional headers the file lacks


def find_file(data_dir: Path, feed: str) -> Path | None:
    """The file delivering `feed` in a drop folder, or None when it was not delivered."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"delivery folder not found: {data_dir}")
    matches = sorted(p for p in data_dir.iterdir()
                     if p.is_file() and p.stem.lower() == feed and p.suffix.lower() in SUFFIXES)
    if len(matches) > 1:
        raise FeedRejected(matches[0], f"同一数据项有多个文件：{', '.join(p.name for p in matches)}")
    return matches[0] if matches else None


def decode(raw: bytes, path: Path) -> tuple[str, str]:
    """Text and encoding of a CSV file: UTF-8 (with or without BOM) or GB18030/GBK."""
    if b"\x00" in raw[:4096]:
        raise FeedRejected(path, "不是文本表格（含二进制内容）")
    for enc in ENCODINGS:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "utf-8-sig":
            return text, "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
        return text, enc
    raise FeedRejected(path, "编码无法识别（既不是UTF-8也不是GBK/GB18030）")


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)  # stripped with every other cell in read_feed


def _read_xlsx(path: Path) -> pd.DataFrame:
    """The first sheet's cells as text (python-calamine: a Rust reader, ~10x openpyxl's speed)."""
    from python_calamine import CalamineWorkbook

    try:
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own error types for zip, xml and format problems
        raise FeedRejected(path, f"不是有效的xlsx文件（{type(exc).__name__}）") from None
    width = max((len(r) for r in rows), default=0)
    return pd.DataFrame([[_cell(v) for v in r] + [""] * (width - len(r)) for r in rows],
                        columns=range(width), dtype=object)


def _read_csv(path: Path) -> tuple[pd.DataFrame, str]:
    """The cells as text. pandas' C parser reads the regular shape; a file whose rows are longer
    than its first row (which pandas cannot read as such) is read with the csv module instead."""
    raw = path.read_bytes()
    text, encoding = decode(raw, path)
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


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda col: col.astype(str).str.strip()).astype(object) if len(frame.columns) else frame


def read_feed(path: Path, feed: Feed | str) -> RawFeed:
    """Reads one delivered file; raises FeedRejected when it cannot be read as this feed.

    Cells past the header that hold something are kept as unnamed extra columns (列N), so the
    summary says they were ignored and a quarantined row shows them: nothing is dropped silently.
    """
    feed = FEEDS[feed] if isinstance(feed, str) else feed
    path = Path(path)
    if path.stat().st_size == 0:
        raise FeedRejected(path, "文件为空")
    if path.suffix.lower() == ".xlsx":
        cells, encoding = _read_xlsx(path), "xlsx"
    else:
        cells, encoding = _read_csv(path)
    cells = _strip(cells)
    filled = (cells != "").to_numpy()
    rows_with_content = filled.any(axis=1)
    if not rows_with_content.any() or not rows_with_content[0]:
        raise FeedRejected(path, "文件为空（没有表头）")
    last_row = int(np.flatnonzero(rows_with_content)[-1])
    cells, filled = cells.iloc[:last_row + 1], filled[:last_row + 1]
    header = [str(h).strip().lstrip("\ufeff") for h in cells.iloc[0]]
    cols_with_content = filled.any(axis=0)
    width = int(np.flatnonzero(cols_with_content)[-1]) + 1 if cols_with_content.any() else 0
    named = max((i + 1 for i, h in enumerate(header) if h), default=0)
    header = header[:max(width, named)]
    known = {c.zh: c.name for c in feed.columns}
    if not set(header) & set(known):
        raise FeedRejected(path, f"表头无法识别：应为 {'、'.join(feed.headers)}")
    dupes = sorted({h for h in header if header.count(h) > 1 and h})
    if dupes:
        raise FeedRejected(path, f"表头重复：{'、'.join(dupes)}")
    missing = [h for h in feed.required_headers if h not in header]
    if missing:
        raise FeedRejected(path, f"缺少列：{'、'.join(missing)}")
    names = [known.get(h, h or f"列{i + 1}") for i, h in enumerate(header)]
    body = cells.iloc[1:, :len(header)]
    frame = pd.DataFrame(body.to_numpy(dtype=object), columns=names).astype(str)
    frame.insert(0, "source_row", range(2, 2 + len(frame)))
    # drop rows that are entirely empty (blank lines, trailing Excel junk) but keep their numbering
    frame = frame[filled[1:].any(axis=1)].reset_index(drop=True)
    extra = [n for n in names if n not in known.values()]
    # an optional column the file does not have stays absent here (the quarantine shows the file's
    # own columns); the check frame treats it as empty (fangpin.quality.prepare)
    absent = [c for c in feed.columns if c.optional and c.zh not in header]
    log.info("read %s: %d rows, encoding %s", path.name, len(frame), encoding)
    return RawFeed(feed, path, encoding, frame, extra, [c.zh for c in absent])
