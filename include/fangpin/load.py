"""Loading a validated delivery into the monitoring database.

Only accepted rows are loaded. All feeds of a period are replaced in one transaction, so a
period is either fully loaded or untouched, and loading it again replaces it (no duplicates).
A feed not delivered (or rejected) this period leaves that feed's table empty for the period.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from fangpin.feeds import FEED_ORDER
from fangpin.store.db import replace_period

log = logging.getLogger(__name__)


def load_delivery(eng: Engine, validation, progress=None) -> dict[str, int]:
    """Replaces the period's rows of every feed by the accepted rows of `validation`."""
    period = str(validation.period)
    counts: dict[str, int] = {}
    with eng.begin() as conn:
        for i, name in enumerate(FEED_ORDER):
            counts[name] = replace_period(conn, name, period, validation.accepted(name))
            if progress:
                progress("load", i + 1, len(FEED_ORDER))
    log.info("loaded period %s: %s", period, ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts
