"""Turning typed frames into delivered text and writing the drop folder.

Each feed has a fixed file format (FORMATS): CSV in UTF-8 with or without BOM, in GBK or
GB18030 with Windows line ends, or .xlsx (openpyxl write-only, every cell text). Dates mix
2026-10-05, 2026/10/5 and 20261005 with per-feed proportions; months mix 2026-10 and 202610.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin.generate.county import _ymd

# feed -> (file suffix, encoding or "xlsx", date format weights (iso, slash, compact))
FORMATS = {
    "regions": (".csv", "utf-8-sig", (1, 0, 0)),
    "households": (".csv", "utf-8-sig", (1, 0, 0)),
    "members": (".csv", "utf-8", (1, 0, 0)),
    "medical": (".csv", "gbk", (0.2, 0.1, 0.7)),
    "disability": (".xlsx", "xlsx", (0.7, 0.3, 0)),
    "civil_affairs": (".csv", "gb18030", (0.3, 0.6, 0.1)),
    "education": (".csv", "utf-8", (1, 0, 0)),
    "housing": (".xlsx", "xlsx", (0.5, 0.3, 0.2)),
    "health": (".csv", "utf-8-sig", (0.4, 0.3, 0.3)),
    "inspections": (".csv", "gbk", (0.3, 0.7, 0)),
    "verifications": (".csv", "utf-8-sig", (0.8, 0.2, 0)),
    "spot_check_results": (".csv", "utf-8-sig", (1, 0, 0)),
    "rectifications": (".csv", "utf-8-sig", (0.6, 0.2, 0.2)),
    "employment": (".csv", "gb18030", (1, 0, 0)),
    "review_results": (".csv", "utf-8-sig", (1, 0, 0)),
}
# a department whose export lists its columns in another order
SHUFFLED = {"health": ["disease", "id_number", "diagnosis_date", "disease_class"]}
# lower-case check character `x` (accepted and normalised by the contract) in this feed
LOWER_X = "health"


def fmt_dates(values, rng, weights=(1, 0, 0)) -> np.ndarray:
    d = np.asarray(values, dtype="datetime64[D]")
    n = len(d)
    if n == 0:
        return np.array([], dtype=object)
    y, m, dd = _ymd(d)
    ys, ms, ds = pd.Series(y).astype(str), pd.Series(m).astype(str), pd.Series(dd).astype(str)
    iso = (ys + "-" + ms.str.zfill(2) + "-" + ds.str.zfill(2)).to_numpy(dtype=object)
    slash = (ys + "/" + ms + "/" + ds).to_numpy(dtype=object)
    compact = (ys + ms.str.zfill(2) + ds.str.zfill(2)).to_numpy(dtype=object)
    w = np.array(weights, dtype=float)
    pick = rng.choice(3, n, p=w / w.sum())
    return np.select([pick == 0, pick == 1], [iso, slash], compact).astype(object)


def fmt_months(values, rng) -> np.ndarray:
    s = pd.Series(values, dtype=object)
    compact = rng.random(len(s)) < 0.3
    out = s.where(~(compact & s.notna()), s.str.replace("-", "", regex=False))
    return out.where(out.notna(), "").to_numpy(dtype=object)


def fmt_money(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return np.char.mod("%.2f", v).astype(object) if len(v) else np.array([], dtype=object)


def text_frame(feed: str, typed: pd.DataFrame, rng) -> pd.DataFrame:
    """The delivered text of a typed frame (internal column names, every value a str)."""
    f = F.feed(feed)
    weights = FORMATS[feed][2]
    out = {}
    for c in f.columns:
        col = typed[c.name].to_numpy() if c.name in typed else np.full(len(typed), None, dtype=object)
        if c.kind == F.DATE:
            out[c.name] = fmt_dates(col, rng, weights)
        elif c.kind == F.MONTH:
            out[c.name] = fmt_months(col, rng)
        elif c.kind == F.MONEY:
            out[c.name] = fmt_money(col)
        elif c.kind == F.COUNT:
            out[c.name] = pd.Series(col).astype(np.int64).astype(str).to_numpy(dtype=object)
        else:
            out[c.name] = pd.Series(col, dtype=object).where(pd.notna(col), "").astype(str).to_numpy(dtype=object)
    frame = pd.DataFrame(out, dtype=object)
    if feed == LOWER_X:
        ids = frame["id_number"]
        lower = ids.str.endswith("X") & (rng.random(len(ids)) < 0.5)
        frame.loc[lower, "id_number"] = ids[lower].str[:-1] + "x"
    return frame


def write_feed(folder: Path, feed: str, frame: pd.DataFrame) -> tuple[str, str]:
    """Writes one feed; returns (file name, encoding/format)."""
    suffix, encoding, _ = FORMATS[feed]
    f = F.feed(feed)
    order = SHUFFLED.get(feed, f.names)
    out = frame[order].rename(columns={c.name: c.zh for c in f.columns})
    path = Path(folder) / f"{feed}{suffix}"
    if encoding == "xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(f.label)
        ws.append(list(out.columns))
        for row in out.itertuples(index=False, name=None):
            ws.append([v if v != "" else None for v in row])
        wb.save(path)
        _fix_zip_times(path)
    else:
        windows = encoding in ("gbk", "gb18030")
        out.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n" if windows else "\n",
                   quoting=csv.QUOTE_MINIMAL)
    return path.name, encoding


def _fix_zip_times(path: Path) -> None:
    """Rewrites an .xlsx with fixed entry times and document dates, so that the same seed gives
    the same bytes (openpyxl stamps the machine clock)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as z:
        entries = [(i, z.read(i.filename)) for i in z.infolist()]
    stamp = b"2000-01-01T00:00:00Z"
    with zipfile.ZipFile(path, "w") as z:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", lambda m: m.group(1) + stamp, data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            z.writestr(fixed, data)


def write_key_csv(path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
