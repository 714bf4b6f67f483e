"""Working days (工作日) in China: the State Council's holiday arrangement, including the 调休 weekends
that are working days, from the ``chinese-calendar`` library, with operator overrides for the days (or
years) the library does not know yet.

Pure: no database. ``Calendar`` takes the overrides as a mapping, the service loads them from the
``cases_calendar_override`` table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar


@dataclass(frozen=True, slots=True)
class Calendar:
    """Which days are working days: overrides first, then the library, then plain weekdays.

    A year the library has no arrangement for falls back to Monday–Friday, which is wrong around the
    holidays; ``known`` tells so, and an operator imports that year's arrangement as overrides.
    """

    overrides: Mapping[date, bool] = field(default_factory=dict)

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        if day in self.overrides:
            return self.overrides[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return day.weekday() < 5

    def known(self, year: int) -> bool:
        """Whether the holiday arrangement of ``year`` is known (library or overrides)."""
        if any(day.year == year for day in self.overrides):
            return True
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def add_workdays(self, start: date, days: int, *, skip: Iterable[date] = ()) -> date:
        """The date ``days`` working days after ``start`` (``start`` itself not counted), not counting the
        days in ``skip`` (a paused or suspended clock)."""
        if days < 0:
            raise ValueError("days must be >= 0")
        skipped = set(skip)
        day = start
        left = days
        while left > 0:
            day += timedelta(days=1)
            if day not in skipped and self.is_workday(day):
                left -= 1
        return day

    def workdays_between(self, start: date, end: date, *, skip: Iterable[date] = ()) -> int:
        """Working days after ``start`` up to and including ``end`` (negative when ``end`` is earlier)."""
        if end < start:
            return -self.workdays_between(end, start, skip=skip)
        skipped = set(skip)
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if day not in skipped and self.is_workday(day):
                count += 1
        return count


def days_in(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end`` inclusive (empty when ``end`` is earlier)."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def parse_overrides(text: str) -> dict[date, bool]:
    """Overrides from an operator's file: one ``YYYY-MM-DD,workday|holiday`` per line (``#`` comments).

    Raises ValueError naming the first bad line.
    """
    found: dict[date, bool] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.replace("\t", ",").split(",")]
        if len(parts) < 2 or parts[1] not in ("workday", "holiday"):
            raise ValueError(
                f"第{number}行应为“日期,workday|holiday” / line {number}: expected DATE,workday|holiday"
            )
        try:
            day = date.fromisoformat(parts[0])
        except ValueError as exc:
            raise ValueError(f"第{number}行日期无效 / line {number}: bad date") from exc
        found[day] = parts[1] == "workday"
    return found
