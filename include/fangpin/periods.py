"""Period arithmetic: turns a `--period` argument or an Airflow run into dates.

A screening period is a calendar month (YYYY-MM). Weekly statistics cover a Monday-Sunday
week; dispatch materials cover a calendar quarter. Everything is computed from the period
or from the run's data interval, never from the wall clock.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_MONTH_RE = re.compile(r"^(\d{4})-?(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Month":
        m = _MONTH_RE.match(str(text).strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"period must be YYYY-MM, got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> "Month":
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def end(self) -> dt.date:
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def year_start(self) -> dt.date:
        return dt.date(self.year, 1, 1)

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def shift(self, months: int) -> "Month":
        n = self.year * 12 + (self.month - 1) + months
        return Month(n // 12, n % 12 + 1)

    def previous(self, count: int) -> list["Month"]:
        """The `count` months before this one, most recent first."""
        return [self.shift(-i) for i in range(1, count + 1)]

    @property
    def quarter(self) -> "Quarter":
        return Quarter(self.year, (self.month - 1) // 3 + 1)


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    q: int

    @classmethod
    def parse(cls, text: str) -> "Quarter":
        m = re.match(r"^(\d{4})-?Q([1-4])$", str(text).strip(), re.I)
        if not m:
            raise ValueError(f"quarter must be YYYY-Qn, got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year}-Q{self.q}"

    @property
    def label(self) -> str:
        return f"{self.year}年第{'一二三四'[self.q - 1]}季度"

    @property
    def months(self) -> list[Month]:
        return [Month(self.year, 3 * (self.q - 1) + i) for i in (1, 2, 3)]

    @property
    def start(self) -> dt.date:
        return self.months[0].start

    @property
    def end(self) -> dt.date:
        return self.months[-1].end


@dataclass(frozen=True, order=True)
class Week:
    monday: dt.date

    @classmethod
    def containing(cls, day: dt.date) -> "Week":
        return cls(day - dt.timedelta(days=day.weekday()))

    @classmethod
    def parse(cls, text: str) -> "Week":
        """`2026-W45` (ISO week) or any date inside the week."""
        s = str(text).strip()
        m = re.match(r"^(\d{4})-?W(\d{1,2})$", s, re.I)
        if m:
            return cls(dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1))
        return cls.containing(parse_date(s))

    def __str__(self) -> str:
        y, w, _ = self.monday.isocalendar()
        return f"{y}-W{w:02d}"

    @property
    def start(self) -> dt.date:
        return self.monday

    @property
    def end(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    @property
    def month(self) -> Month:
        """The month whose delivery the week's statistics read: the month of its Sunday."""
        return Month.of(self.end)

    @property
    def label(self) -> str:
        return f"{self.start:%Y年%m月%d日}—{self.end:%m月%d日}"


def parse_date(text: str) -> dt.date:
    """Parses 2026-10-05, 2026/10/5 or 20261005."""
    s = str(text).strip()
    m = re.match(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$", s) or re.match(r"^(\d{4})(\d{2})(\d{2})$", s)
    if not m:
        raise ValueError(f"not a date: {text!r}")
    return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _local_date(value) -> dt.date:
    """A run's data-interval bound as a date in Asia/Shanghai."""
    if isinstance(value, dt.datetime):
        from zoneinfo import ZoneInfo

        if value.tzinfo is not None:
            value = value.astimezone(ZoneInfo("Asia/Shanghai"))
        return value.date()
    return value


def month_of_interval(start, end) -> Month:
    """The month an Airflow run covers: the month its data interval starts in."""
    return Month.of(_local_date(start))


def week_of_interval(start, end) -> Week:
    return Week.containing(_local_date(start))


def quarter_of_interval(start, end) -> Quarter:
    return Month.of(_local_date(start)).quarter
