import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from fangpin.periods import Month, Quarter, Week, month_of_interval, parse_date, quarter_of_interval, week_of_interval


def test_month_bounds_and_shifts():
    m = Month.parse("202402")
    assert str(m) == "2024-02" and m.start == dt.date(2024, 2, 1) and m.end == dt.date(2024, 2, 29)
    assert m.year_start == dt.date(2024, 1, 1)
    assert [str(x) for x in Month.parse("2026-02").previous(3)] == ["2026-01", "2025-12", "2025-11"]
    assert str(Month.parse("2026-11").quarter) == "2026-Q4"
    with pytest.raises(ValueError):
        Month.parse("2026-13")


def test_week_and_quarter():
    w = Week.parse("2026-11-18")
    assert w.start == dt.date(2026, 11, 16) and w.end == dt.date(2026, 11, 22) and str(w) == "2026-W47"
    assert Week.parse("2026-W47") == w
    q = Quarter.parse("2026-Q3")
    assert [str(m) for m in q.months] == ["2026-07", "2026-08", "2026-09"] and q.end == dt.date(2026, 9, 30)


@pytest.mark.parametrize("text", ["2026-10-05", "2026/10/5", "20261005"])
def test_parse_date_formats(text):
    assert parse_date(text) == dt.date(2026, 10, 5)


def test_periods_from_data_intervals_use_shanghai_time():
    utc = ZoneInfo("UTC")
    # 2026-09-30 17:00 UTC is already 1 October in Asia/Shanghai.
    start = dt.datetime(2026, 9, 30, 17, 0, tzinfo=utc)
    assert str(month_of_interval(start, start)) == "2026-10"
    assert str(quarter_of_interval(start, start)) == "2026-Q4"
    monday = dt.datetime(2026, 11, 8, 16, 0, tzinfo=utc)  # Monday 9 Nov 00:00 in Shanghai
    assert str(week_of_interval(monday, monday)) == "2026-W46"
