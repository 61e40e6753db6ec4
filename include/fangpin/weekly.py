"""The weekly township feedback drop: validation, quarantine and loading of one week's folder.

Townships send their feedback every week into `<data_root>/weekly/<YYYY-Www>/` (the ISO week,
Monday–Sunday, e.g. `incoming/weekly/2026-W46/`): any of the four feedback feeds
`inspections`, `verifications`, `spot_check_results`, `rectifications` (.csv or .xlsx, the
same Chinese headers as in the monthly delivery). `ingest_week` validates them exactly like the
monthly feeds (fangpin.validate: same suites, quarantine with reasons, validation history; dates
must not be after the week's Sunday; 户编号 must exist in the latest households delivery loaded;
a rectification dated before its problem's 通报日期 is quarantined) and stores the accepted rows
in the feed tables under the delivery id `YYYY-Www` (re-ingesting a week replaces that week).
A missing folder means nothing was delivered that week: reported, not a failure.

Readers never look at deliveries directly: fangpin.feedback.read_feedback gives the rows dated
in a range from monthly and weekly deliveries together. See docs/weekly.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from fangpin.feedback import FEEDBACK_FEEDS
from fangpin.periods import Week
from fangpin.store.db import read_feed, replace_period

log = logging.getLogger(__name__)

FOLDER = "weekly"


def week_folder(data_root: Path | str, week: Week | str) -> Path:
    """<data_root>/weekly/<YYYY-Www>/"""
    return Path(data_root) / FOLDER / str(Week.parse(str(week)))


@dataclass
class WeeklyIngest:
    week: Week
    folder: Path
    delivered: bool
    validation: object | None = None          # fangpin.validate.DeliveryValidation
    loaded: dict[str, int] = field(default_factory=dict)

    @property
    def rejected(self) -> list[str]:
        return list(self.validation.rejected) if self.validation is not None else []

    def summary(self) -> dict:
        """JSON-serialisable (XCom): week, delivered, loaded rows and per-feed outcomes."""
        feeds = {}
        if self.validation is not None:
            feeds = {n: {"status": o.status, "rows": o.rows_total, "accepted": o.rows_accepted,
                         "quarantined": o.rows_quarantined, "message": o.message}
                     for n, o in self.validation.outcomes.items()}
        return {"week": str(self.week), "folder": str(self.folder), "delivered": self.delivered,
                "loaded": dict(self.loaded), "rejected": self.rejected, "feeds": feeds}


def household_reference(eng: Engine, week: Week) -> pd.DataFrame | None:
    """The households a weekly drop's 户编号 are checked against: the registry that had arrived by
    the weekly run's day, the Monday after the week (fangpin.feedback.registry_known_by, so
    re-ingesting the week after later deliveries gives the same result). None when none is
    loaded: the check is skipped and the summary says so."""
    from fangpin.feedback import arrived_on, registry_known_by

    period = registry_known_by(eng, arrived_on(str(week)), before=str(week.month))
    if period is None:
        return None
    return read_feed(eng, "households", period, columns=["household_id"])


def ingest_week(eng: Engine, week: Week | str, folder: Path | str, out_dir: Path | str | None = None,
                build_docs: bool = False) -> WeeklyIngest:
    """Validates and loads one week's feedback drop (see the module docstring).

    out_dir: also write quarantine/<feed>.csv and validation_summary.csv there. The week's rows of
    the four feeds are replaced in one transaction (a feed absent from the folder: none that week;
    a feed whose file is rejected whole keeps the rows loaded before)."""
    from fangpin.problems import rectification_check
    from fangpin.validate import validate_delivery

    week = Week.parse(str(week))
    folder = Path(folder)
    if not folder.is_dir():
        log.warning("week %s: no feedback delivered (%s does not exist)", week, folder)
        return WeeklyIngest(week, folder, delivered=False)
    refs = {}
    hh = household_reference(eng, week)
    if hh is not None:
        refs["households"] = hh
    validation = validate_delivery(folder, week, out_dir=Path(out_dir) if out_dir else None, eng=eng,
                                   build_docs=build_docs, feeds=FEEDBACK_FEEDS, references=refs,
                                   row_checks={"rectifications": rectification_check(eng)})
    from fangpin.validate import REJECTED

    loaded: dict[str, int] = {}
    with eng.begin() as conn:
        for name in FEEDBACK_FEEDS:
            if validation.outcomes[name].status == REJECTED:  # a bad file never deletes what was loaded
                continue
            loaded[name] = replace_period(conn, name, str(week), validation.accepted(name))
    log.info("week %s feedback loaded: %s", week, ", ".join(f"{k}={v}" for k, v in loaded.items()))
    return WeeklyIngest(week, folder, delivered=True, validation=validation, loaded=loaded)
