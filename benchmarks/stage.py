"""Runs one stage of the monthly cycle in its own process and prints {"seconds", "peak_mb"} as JSON.

Called by benchmarks/run.py; each stage in a fresh process so its peak memory is its own.
Usage: python benchmarks/stage.py STAGE DATA_DIR PERIOD OUT_DIR
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def io_floor(data: Path, period: str, out: Path) -> None:
    """Reads every feed of the delivery once: the floor under any stage that must read it."""
    from fangpin.feeds import FEED_ORDER
    from fangpin.read import find_file, read_feed

    for name in FEED_ORDER:
        path = find_file(data, name)
        if path:
            read_feed(path, name)


def validate_gx(data: Path, period: str, out: Path) -> None:
    from fangpin.validate import validate_delivery

    validate_delivery(data, period, out_dir=out, build_docs=False)


def validate_pandas(data: Path, period: str, out: Path) -> None:
    from fangpin.validate import pandas_check_delivery

    pandas_check_delivery(data, period)


def ingest(data: Path, period: str, out: Path) -> None:
    from fangpin import pipeline

    pipeline.ingest(data, period, out_dir=out, build_docs=True)


def screen(data: Path, period: str, out: Path) -> None:
    from fangpin import pipeline

    pipeline.screen_period(period, str(out), push_lists=True)


def sample(data: Path, period: str, out: Path) -> None:
    from fangpin import pipeline

    pipeline.sample_period(period, str(out), call_sheets=True)
    pipeline.derive_problems(period)


def reports(data: Path, period: str, out: Path) -> None:
    from fangpin import pipeline
    from fangpin.periods import Month, Week

    month = Month.parse(period)
    pipeline.build_report("monthly", period, str(out))
    pipeline.build_report("weekly", str(Week.containing(month.end)), str(out))
    pipeline.build_report("quarterly", str(month.quarter), str(out))


STAGES = {f.__name__: f for f in (io_floor, validate_gx, validate_pandas, ingest, screen, sample, reports)}

if __name__ == "__main__":
    stage, data, period, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    t0 = time.perf_counter()
    STAGES[stage](data, period, out)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"stage": stage, "seconds": round(seconds, 2), "peak_mb": round(peak_mb)}))
