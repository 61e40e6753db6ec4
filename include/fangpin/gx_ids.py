"""A custom Great Expectations expectation: GB 11643 citizen ID numbers.

`expect_column_values_to_be_valid_gb11643_id` checks each non-empty value has 18 characters,
a non-zero area code, a real birth date (1880 … today), and the check digit (weights
7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, sum mod 11 -> "10X98765432"). Lower-case x is accepted.
The metric is vectorised: the IDs become a uint8 matrix and all tests are numpy operations
(fangpin.quality.checks.id_problems, which also gives the Chinese wording of each failure).

Importing this module imports great_expectations (seconds): only fangpin.quality.gx_run does.
"""

from __future__ import annotations

from typing import ClassVar

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from fangpin.quality.checks import id_problems


class ColumnValuesValidGb11643Id(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_gb11643_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return id_problems(column).isna()


class ExpectColumnValuesToBeValidGb11643Id(ColumnMapExpectation):
    """Expect column values to be valid GB 11643 citizen ID numbers (area code, birth date, check digit)."""

    map_metric: ClassVar[str] = "column_values.valid_gb11643_id"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["fangpin", "id number", "GB 11643"], "contributors": ["fangpin"]}
