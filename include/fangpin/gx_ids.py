"""A custom Great Expectations expectation: GB 11643 citizen ID numbers.

`expect_column_values_to_be_valid_gb11643_id` checks each non-empty value has 18 characters,
a non-zero area code, a real birth date (1880 … `born_by`, never after today: the suites pass
the period's end, `{"$PARAMETER": "period_end"}`, so a past period validates the same whenever
it is re-run; today when not given), and the check digit (weights
7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, sum mod 11 -> "10X98765432"). Lower-case x is accepted.
The metric is vectorised: the IDs become a uint8 matrix and all tests are numpy operations
(fangpin.quality.checks.id_problems, which also gives the Chinese wording of each failure).

Importing this module imports great_expectations (seconds): only fangpin.quality.gx_run does.
"""

from __future__ import annotations

from typing import ClassVar, Optional, Union

from great_expectations.core.suite_parameters import SuiteParameterDict
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from fangpin.quality.checks import born_by as _born_by, id_problems


class ColumnValuesValidGb11643Id(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_gb11643_id"
    condition_value_keys = ("born_by",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, born_by=None, **kwargs):
        return id_problems(column, today=_born_by(born_by)).isna()


class ExpectColumnValuesToBeValidGb11643Id(ColumnMapExpectation):
    """Expect column values to be valid GB 11643 citizen ID numbers (area code, birth date, check digit)."""

    born_by: Optional[Union[str, SuiteParameterDict]] = None

    map_metric: ClassVar[str] = "column_values.valid_gb11643_id"
    success_keys: ClassVar[tuple[str, ...]] = ("born_by", "mostly")
    library_metadata: ClassVar[dict] = {"tags": ["fangpin", "id number", "GB 11643"], "contributors": ["fangpin"]}
