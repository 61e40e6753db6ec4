"""Custom Great Expectations expectations besides the ID number one (fangpin.gx_ids).

- expect_column_values_to_be_valid_dates(column, unit="day"|"month"): the contract's date
  formats (2026-10-05, 2026/10/5, 20261005) or months (2026-10, 202610), real calendar dates.
- expect_column_values_to_exist_in_feed(column, feed, feed_column, where=None): the value is
  present in `feed_column` of another delivered feed (rows of it matching `where`). The other
  feed's frame is not a parameter (it would be copied into every result and Data Docs page):
  the validator publishes the delivered frames in evaluate.REFERENCE_FRAMES for the run.

Both metrics are vectorised and shared with the plain pandas evaluator.
"""

from __future__ import annotations

from typing import ClassVar, Optional

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from fangpin.quality import checks as C
from fangpin.quality.evaluate import reference_ok


class ColumnValuesValidDates(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_dates"
    condition_value_keys = ("unit",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, unit="day", **kwargs):
        return ~C.unparseable(column, unit)


class ExpectColumnValuesToBeValidDates(ColumnMapExpectation):
    """Expect column values to be real dates (unit "day") or months (unit "month") in the contract's formats."""

    unit: str = "day"
    map_metric: ClassVar[str] = "column_values.valid_dates"
    success_keys: ClassVar[tuple[str, ...]] = ("unit", "mostly")


class ColumnValuesExistInFeed(ColumnMapMetricProvider):
    condition_metric_name = "column_values.exist_in_feed"
    condition_value_keys = ("feed", "feed_column", "where")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, feed, feed_column, where=None, **kwargs):
        return reference_ok(column, feed, feed_column, where)


class ExpectColumnValuesToExistInFeed(ColumnMapExpectation):
    """Expect column values to be present in a column of another feed of the same delivery."""

    feed: str
    feed_column: str
    where: Optional[dict] = None
    map_metric: ClassVar[str] = "column_values.exist_in_feed"
    success_keys: ClassVar[tuple[str, ...]] = ("feed", "feed_column", "where", "mostly")
