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
from dataclasses import dataclass
from pathlib import Path

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
    return str(v).strip()


def _read_xlsx(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook
    from zipfile import BadZipFile

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, OSError, KeyError, ValueError) as exc:
        raise FeedRejected(path, f"不是有效的xlsx文件（{type(exc).__name__}）") from None
    try:
        ws = wb.worksheets[0]
        rows = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    return rows


def _read_csv(path: Path) -> tuple[list[list[str]], str]:
    raw = path.read_bytes()
    text, encoding = decode(raw, path)
    try:
        rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise FeedRejected(path, f"不是有效的CSV表格（{exc}）") from None
    return rows, encoding


def read_feed(path: Path, feed: Feed | str) -> RawFeed:
    """Reads one delivered file; raises FeedRejected when it cannot be read as this feed."""
    feed = FEEDS[feed] if isinstance(feed, str) else feed
    path = Path(path)
    if path.stat().st_size == 0:
        raise FeedRejected(path, "文件为空")
    if path.suffix.lower() == ".xlsx":
        rows, encoding = _read_xlsx(path), "xlsx"
    else:
        rows, encoding = _read_csv(path)
    while rows and not any(rows[-1]):
        rows.pop()
    if not rows or not any(rows[0]):
        raise FeedRejected(path, "文件为空（没有表头）")
    header = [h.strip().lstrip("\ufeff") for h in rows[0]]
    while header and header[-1] == "":
        header.pop()
    known = {c.zh: c.name for c in feed.columns}
    if not set(header) & set(known):
        raise FeedRejected(path, f"表头无法识别：应为 {'、'.join(feed.headers)}")
    dupes = sorted({h for h in header if header.count(h) > 1 and h})
    if dupes:
        raise FeedRejected(path, f"表头重复：{'、'.join(dupes)}")
    missing = [h for h in feed.headers if h not in header]
    if missing:
        raise FeedRejected(path, f"缺少列：{'、'.join(missing)}")
    width = len(header)
    body = []
    for r in rows[1:]:
        if len(r) > width and any(r[width:]):
            pass  # surplus cells past the header are kept below as unnamed columns
        body.append((r + [""] * width)[:width] if len(r) <= width else r[:width])
    names = [known.get(h, h or f"列{i + 1}") for i, h in enumerate(header)]
    frame = pd.DataFrame(body, columns=names, dtype=object) if body else pd.DataFrame(columns=names, dtype=object)
    frame = frame.fillna("").astype(str)
    frame.insert(0, "source_row", range(2, 2 + len(frame)))
    # drop rows that are entirely empty (trailing Excel junk) but keep their numbering
    blank = (frame.drop(columns="source_row") == "").all(axis=1)
    frame = frame[~blank].reset_index(drop=True)
    extra = [n for n in names if n not in known.values()]
    log.info("read %s: %d rows, encoding %s", path.name, len(frame), encoding)
    return RawFeed(feed, path, encoding, frame, extra)
