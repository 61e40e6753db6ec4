"""The data-quality stage: validates a delivery with the Great Expectations suites in expectations/.

For every feed of the data contract: read the file (fangpin.read), run its suite (GX, pandas
engine), quarantine every row that breaks a rule with its reasons in Chinese, hand on the
accepted rows as a typed frame, count department rows whose ID matches no member (unmatched:
accepted, reported, not quarantined), store the run in the monitoring database and build the
GX Data Docs. rows in = rows accepted + rows quarantined, for every feed.

Public API: validate_delivery, DeliveryValidation, FeedOutcome, pandas_check,
pandas_check_delivery, history. See docs/validate.md.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fangpin import feeds as F
from fangpin.periods import Month
from fangpin import reasons as RS
from fangpin.quality import evaluate as E
from fangpin.quality import messy as M
from fangpin.quality import prepare as P
from fangpin.quality.history import history  # noqa: F401  (public: stored validation runs)
from fangpin.quality.suites import load_suite
from fangpin.read import FeedRejected, RawFeed, find_file, read_feed

log = logging.getLogger(__name__)

PASSED, QUARANTINED, NOT_DELIVERED, REJECTED = "通过", "有隔离", "未提供", "拒收"
SUMMARY_COLUMNS = ["数据项", "总行数", "通过行数", "隔离行数", "状态", "未匹配行数", "文件", "说明"]
REASON, ROW = "原因", "行号"
# Check frames are built in this order: households need the members' counts.
_BUILD_ORDER = ("regions", "members", "households")


@dataclass
class FeedOutcome:
    feed: str
    status: str                    # 通过 | 有隔离 | 未提供 | 拒收
    file: Path | None
    rows_total: int
    rows_accepted: int
    rows_quarantined: int
    rows_unmatched: int
    message: str | None
    accepted: pd.DataFrame         # typed frame (+ source_row; regions/households + township_code)
    quarantine: pd.DataFrame       # original headers and values + 原因 + 行号


@dataclass
class DeliveryValidation:
    period: Month
    run_uid: str
    outcomes: dict[str, FeedOutcome]
    data_docs: Path | None = None
    stored: bool = True            # False until the history is stored (fangpin.load stores it then)
    failures: dict | None = None   # {feed: [Failure]} of the suites (for the stored results)

    @property
    def rejected(self) -> list[str]:
        """Feeds whose file was rejected whole (the CLI exits 1 when any)."""
        return [n for n, o in self.outcomes.items() if o.status == REJECTED]

    def accepted(self, feed: str) -> pd.DataFrame:
        return self.outcomes[feed].accepted

    def summary(self) -> pd.DataFrame:
        """validation_summary.csv as a frame."""
        return pd.DataFrame([{
            "数据项": n, "总行数": o.rows_total, "通过行数": o.rows_accepted, "隔离行数": o.rows_quarantined,
            "状态": o.status, "未匹配行数": o.rows_unmatched, "文件": o.file.name if o.file else "",
            "说明": o.message or "",
        } for n, o in self.outcomes.items()], columns=SUMMARY_COLUMNS)


# ---- reading and preparing -------------------------------------------------------------------

def read_delivery(data_dir: Path, feeds=None) -> tuple[dict[str, RawFeed],
                                                      dict[str, tuple[str, Path | None, str | None]]]:
    """Readable feeds, and (status, file, message) of the feeds not delivered or rejected.

    `feeds`: the feed names to read (default: every feed of the contract). A file that cannot be
    read for any reason rejects that feed only; the delivery folder itself must be readable
    (PermissionError otherwise: an environment problem).
    """
    raws: dict[str, RawFeed] = {}
    missing: dict[str, tuple[str, Path | None, str | None]] = {}
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"delivery folder not found: {data_dir}")
    list(data_dir.iterdir())  # PermissionError here: the folder itself cannot be read
    for name in F.FEED_ORDER:
        if feeds is not None and name not in feeds:
            continue
        path = None
        try:
            path = find_file(data_dir, name)
            if path is None:
                missing[name] = (NOT_DELIVERED, None, None)
                continue
            raws[name] = read_feed(path, name)
        except FeedRejected as exc:
            log.warning("rejected %s", exc)
            missing[name] = (REJECTED, exc.path, str(exc))
        except (OSError, ValueError, UnicodeError, MemoryError) as exc:
            where = path or data_dir / name
            problem = "无法读取文件（没有读取权限）" if isinstance(exc, PermissionError) else \
                f"无法读取文件（{type(exc).__name__}）"
            log.warning("rejected %s: %s", where, exc)
            missing[name] = (REJECTED, where, f"{where.name}：{problem}")
    return raws, missing


def check_frames(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Check frames of the readable feeds (in FEED_ORDER)."""
    order = [n for n in _BUILD_ORDER if n in raw] + [n for n in raw if n not in _BUILD_ORDER]
    checks: dict[str, pd.DataFrame] = {}
    for name in order:
        checks[name] = P.check_frame(raw[name], F.FEEDS[name], members=checks.get("members"))
    return {n: checks[n] for n in F.FEED_ORDER if n in checks}


def runnable_suites(names, available: set[str], directory: Path | None = None) -> tuple[dict, dict]:
    """The suites of `names`, without the expectations that need a feed that is not available.

    Returns (suites, notes): notes[feed] lists the checks skipped, in Chinese.
    """
    suites, notes = {}, {}
    for name in names:
        suite = load_suite(name, directory)
        keep, skipped = [], []
        for e in suite["expectations"]:
            needs = e.get("meta", {}).get("needs")
            if needs and needs not in available:
                skipped.append(f"{e['meta']['header']}（{F.FEEDS[needs].label}数据未提供或拒收，未校验）")
            else:
                keep.append(e)
        suite["expectations"] = keep
        suites[name] = suite
        if skipped:
            notes[name] = skipped
    return suites, notes


# ---- the plain pandas implementation (benchmark baseline) ------------------------------------

def pandas_check(raw: dict, period: str | Month, suites_dir: Path | None = None) -> dict[str, pd.Series]:
    """The same rules as the GX suites, evaluated with plain vectorised pandas.

    raw: {feed: RawFeed} (or the reader's text frames, RawFeed.frame: then only the suites'
    rules, without the messy-export problems that need the reader's findings).
    Returns {feed: Series of reason texts indexed by source_row} (only rejected rows).
    """
    month = Month.parse(str(period))
    raws = {n: r for n, r in raw.items() if isinstance(r, RawFeed)}
    raw = {n: (r.frame if isinstance(r, RawFeed) else r) for n, r in raw.items()}
    checks = check_frames(raw)
    suites, _ = runnable_suites(checks, set(checks), suites_dir)
    params = E.period_params(month)
    token = E.REFERENCE_FRAMES.set(checks)
    try:
        out = {}
        for name, frame in checks.items():
            failures = E.evaluate_suite(frame, suites[name], params)
            why = M.row_reasons(raws[name], F.FEEDS[name], frame, failures, params) if name in raws \
                else E.reasons(frame, failures, params)
            rows = raw[name]["source_row"].to_numpy()
            out[name] = pd.Series(why.to_numpy(), index=pd.Index(rows[why.index.to_numpy(dtype=int)],
                                                                  name="source_row"), name=REASON)
        return out
    finally:
        E.REFERENCE_FRAMES.reset(token)


def pandas_check_delivery(data_dir: Path, period: str | Month) -> dict[str, pd.Series]:
    """pandas_check() on a drop folder (read with fangpin.read; unreadable files are skipped)."""
    raws, _ = read_delivery(Path(data_dir))
    return pandas_check(raws, period)


# ---- the stage -------------------------------------------------------------------------------

def validate_delivery(data_dir: Path, period, out_dir: Path | None = None, eng=None,
                      build_docs: bool = True, store: bool = True, write: bool = True, feeds=None,
                      references: dict | None = None, row_checks: dict | None = None) -> DeliveryValidation:
    """Validates a drop folder for a period (see the module docstring and docs/validate.md).

    period: a month (`2026-10` or a Month), or any period object with `end` (a fangpin.periods.Week
    for a weekly feedback drop: dates must not be after the week's end).
    store=False: the history is not stored here; fangpin.load.load_delivery stores it in the
    same transaction as the loaded rows (what the ingest does). write=False: the summary and
    quarantine files are not written (the ingest writes them after loading: write_outputs).
    feeds: validate only these feeds (default: all of the contract).
    references: frames standing in for feeds not in the drop that others refer to, e.g.
    {"households": frame with household_id} from the database for a weekly drop.
    row_checks: {feed: f(accepted typed frame) -> Series of reasons (None = fine)}: rules that need
    the database (a rectification dated before its problem's 通报日期); failing rows are moved
    from accepted to the quarantine with their reason."""
    from fangpin.quality import gx_run

    month = Month.parse(str(period)) if isinstance(period, str) or not hasattr(period, "end") else period
    run_uid = uuid.uuid4().hex
    raws, missing = read_delivery(Path(data_dir), feeds)
    checks = check_frames({n: r.frame for n, r in raws.items()})
    references = dict(references or {})
    suites, notes = runnable_suites(checks, set(checks) | set(references))
    token = E.REFERENCE_FRAMES.set({**references, **checks})
    try:
        gx_results = gx_run.run_suites(checks, suites, E.period_params(month))
    finally:
        E.REFERENCE_FRAMES.reset(token)

    member_ids = set(checks["members"]["id_number"].dropna()) if "members" in checks else None
    outcomes: dict[str, FeedOutcome] = {}
    for name in (feeds or F.FEED_ORDER):
        feed = F.FEEDS[name]
        if name not in missing and name not in raws:
            continue
        if name in missing:
            status, path, message = missing[name]
            outcomes[name] = FeedOutcome(name, status, path, 0, 0, 0, 0, message, P.empty_typed(feed),
                                         _empty_quarantine(feed))
            continue
        outcomes[name] = _outcome(feed, raws[name], checks[name], gx_results[name][0], member_ids,
                                  notes.get(name, []), E.period_params(month))
        if row_checks and name in row_checks:
            outcomes[name] = _apply_row_check(outcomes[name], feed, raws[name], row_checks[name])
        # the feed's text and check frames are done with (the outcome holds its typed rows and its
        # quarantine): freed now, so that the next feed's outcome reuses their memory
        del raws[name], checks[name]

    validation = DeliveryValidation(month, run_uid, outcomes, stored=False,
                                    failures={n: f for n, (f, _) in gx_results.items()})
    if build_docs and gx_results:
        from fangpin.config import settings

        docs_dir = (Path(out_dir) if out_dir else Path(settings().output_dir)) / "data_docs"
        for name, (_, result) in gx_results.items():
            gx_run.strip_result(result, F.FEEDS[name])
        validation.data_docs = gx_run.build_data_docs(
            docs_dir, suites, {n: r for n, (_, r) in gx_results.items()}, f"{month}_{run_uid[:8]}")
    if out_dir is not None and write:
        write_outputs(validation, Path(out_dir))
    if store:
        _store(validation, validation.failures, eng)
        validation.stored = True
    for name, o in outcomes.items():
        log.info("validate %s %s: %s rows=%d accepted=%d quarantined=%d unmatched=%d", month, name, o.status,
                 o.rows_total, o.rows_accepted, o.rows_quarantined, o.rows_unmatched)
    return validation


def _outcome(feed: F.Feed, raw: RawFeed, check: pd.DataFrame, failures: list, member_ids: set | None,
             notes: list[str], params: dict | None = None) -> FeedOutcome:
    why = M.row_reasons(raw, feed, check, failures, params)
    source_row = raw.frame["source_row"].reset_index(drop=True)
    why, accepted = _typed_or_quarantined(feed, check, source_row, why)
    bad = why.index.to_numpy(dtype=int)
    quarantine = _quarantine_frame(feed, raw.original.reset_index(drop=True).iloc[bad], why.to_numpy())
    unmatched = 0
    messages = list(raw.skipped) + list(notes)
    counts = why.value_counts()
    for special in (RS.TOTAL_ROW, RS.TOO_MANY_CELLS, RS.EXACT_DUPLICATE, RS.CONTRADICTORY_DUPLICATE):
        if special in counts:
            messages.append(f"{int(counts[special])}行{special}（已隔离）")
    if feed.person_column:
        if member_ids is None:
            messages.append("家庭成员数据未提供或拒收，未统计未匹配行数")
        else:
            unmatched = int((~accepted[feed.person_column].isin(member_ids)).sum())
            if unmatched:
                messages.append(f"{unmatched}行身份证号不在家庭成员名单中（未匹配，已通过，不隔离）")
    if raw.extra_columns:
        messages.append(f"忽略多余列：{'、'.join(raw.extra_columns)}")
    if raw.absent_optional:
        messages.append(f"未提供可选列：{'、'.join(raw.absent_optional)}")
    status = QUARANTINED if len(bad) else PASSED
    return FeedOutcome(feed.name, status, raw.path, len(check), len(accepted), len(quarantine), unmatched,
                       "；".join(messages) or None, accepted, quarantine)


def _apply_row_check(o: FeedOutcome, feed: F.Feed, raw: RawFeed, check) -> FeedOutcome:
    """Moves the accepted rows `check` rejects into the quarantine (rows in = accepted + quarantined)."""
    if o.accepted.empty:
        return o
    why = pd.Series(check(o.accepted), index=o.accepted.index)
    bad = why.notna() & (why.astype(str) != "")
    if not bad.any():
        return o
    reasons = dict(zip(o.accepted.loc[bad, "source_row"].astype("int64"), why[bad]))
    frame = raw.original.reset_index(drop=True)  # the quarantine shows the values as delivered
    raw_rows = frame[frame["source_row"].astype("int64").isin(list(reasons))]
    extra = _quarantine_frame(feed, raw_rows, [reasons[int(r)] for r in raw_rows["source_row"]])
    quarantine = pd.concat([o.quarantine, extra], ignore_index=True).sort_values(ROW, kind="stable",
                                                                                 ignore_index=True)
    accepted = o.accepted[~bad].reset_index(drop=True)
    return FeedOutcome(o.feed, QUARANTINED, o.file, o.rows_total, len(accepted), len(quarantine), o.rows_unmatched,
                       o.message, accepted, quarantine)


def _typed_or_quarantined(feed: F.Feed, check: pd.DataFrame, source_row: pd.Series,
                          why: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """The accepted rows typed for the database, and the reasons with the safety net added: a row
    whose value passed the checks but cannot be typed (it would become NULL, or fail a NOT NULL
    insert) is quarantined `<列>：无法转换`, never loaded."""
    good = np.ones(len(check), dtype=bool)
    good[why.index.to_numpy(dtype=int)] = False
    typed = P.typed_frame(check[good], feed, source_row[good])
    rows = np.flatnonzero(good)
    lost_any = np.zeros(len(rows), dtype=bool)
    extra: dict[int, list[str]] = {}
    for c in feed.columns:
        lost = typed[c.name].isna().to_numpy() & check[c.name].iloc[rows].notna().to_numpy()
        lost_any |= lost
        for pos in rows[lost]:
            extra.setdefault(int(pos), []).append(RS.reason(c.zh, RS.NOT_CONVERTIBLE))
    if not extra:
        return why, typed
    log.error("%s: %d rows passed the checks but could not be typed (quarantined 无法转换)", feed.name, len(extra))
    add = pd.Series({k: RS.join(v) for k, v in extra.items()}, dtype=object)
    return pd.concat([why, add]).sort_index(), typed[~lost_any].reset_index(drop=True)


def _quarantine_frame(feed: F.Feed, raw_rows: pd.DataFrame, why) -> pd.DataFrame:
    zh = {c.name: c.zh for c in feed.columns}
    cols = [c for c in raw_rows.columns if c != "source_row"]
    out = raw_rows[cols].rename(columns=zh).reset_index(drop=True).astype(object)
    out[REASON] = list(why)
    out[ROW] = raw_rows["source_row"].to_numpy(dtype="int64")
    return out


def _empty_quarantine(feed: F.Feed) -> pd.DataFrame:
    return pd.DataFrame(columns=[*feed.headers, REASON, ROW])


def _atomic_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    frame.to_csv(tmp, index=False, encoding="utf-8-sig")
    os.replace(tmp, path)


def write_outputs(validation: DeliveryValidation, out_dir: Path) -> None:
    """OUT/quarantine/<feed>.csv (every delivered feed; header only when none) and validation_summary.csv."""
    for name, o in validation.outcomes.items():
        path = out_dir / "quarantine" / f"{name}.csv"
        if o.status == NOT_DELIVERED:
            path.unlink(missing_ok=True)
            continue
        _atomic_csv(o.quarantine, path)
    _atomic_csv(validation.summary(), out_dir / "validation_summary.csv")


def _sample(feed_name: str, failure) -> list:
    from fangpin.quality.gx_run import column_kind, mask_value

    kind = column_kind(F.FEEDS[feed_name], failure.expectation["kwargs"].get("column"))
    seen: list = []
    for v in failure.values:
        m = mask_value(v, kind) if not isinstance(v, (list, tuple)) else [mask_value(x, None) for x in v]
        if isinstance(m, (pd.Timestamp, np.datetime64)):
            m = pd.Timestamp(m).isoformat()
        elif isinstance(m, np.generic):
            m = m.item()
        elif not isinstance(m, (str, int, float, bool, list, type(None))):
            m = str(m)
        if m not in seen:
            seen.append(m)
        if len(seen) >= 5:
            break
    return seen


def _store(validation: DeliveryValidation, failures: dict, eng) -> None:
    from fangpin.quality.history import store
    from fangpin.store import db

    store(eng or db.engine(), validation, failures, _sample)
