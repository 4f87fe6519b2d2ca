"""Calendar arithmetic for deadlines: months in local time, and the DORA working-day rule.

Hours are elapsed time (24 h after 10:00 UTC is 10:00 UTC the next day, whatever the clocks
do); months are counted on the recipient's wall clock, then turned back into UTC.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays


def add_months(moment: datetime, months: int, tz: str) -> datetime:
    """Return ``moment`` plus ``months`` on the wall clock of ``tz`` (31 Jan + 1 → 28/29 Feb)."""
    local = moment.astimezone(ZoneInfo(tz))
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, _calendar.monthrange(year, month)[1])
    wall = datetime.combine(date(year, month, day), local.time().replace(tzinfo=None))
    return wall.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


@cache
def _holidays(country: str, categories: tuple[str, ...], year: int) -> frozenset[date]:
    table = holidays.country_holidays(country, years=year, categories=categories)
    return frozenset(table.keys())


def is_working_day(day: date, country: str, categories: tuple[str, ...] = ("public",)) -> bool:
    """Return whether ``day`` is a working day in ``country`` (not a weekend or holiday)."""
    return day.weekday() < 5 and day not in _holidays(country, categories, day.year)


def next_working_noon(
    moment: datetime, tz: str, country: str, categories: tuple[str, ...], noon: time
) -> datetime | None:
    """Return noon of the next working day if ``moment`` falls on a non-working day, else None."""
    local_day = moment.astimezone(ZoneInfo(tz)).date()
    if is_working_day(local_day, country, categories):
        return None
    day = local_day + timedelta(days=1)
    while not is_working_day(day, country, categories):
        day += timedelta(days=1)
    return datetime.combine(day, noon).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
