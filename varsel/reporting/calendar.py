"""Calendar arithmetic for deadlines: months in local time, and the DORA working-day rule.

Hours are elapsed time (24 h after 10:00 UTC is 10:00 UTC the next day, whatever the clocks
do); months are counted on the recipient's wall clock, then turned back into UTC.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ClosingDays:
    """Days a country's banks close besides its public holidays: fixed dates and Easter offsets."""

    fixed: tuple[str, ...] = ()  # "MM-DD"
    easter_offsets: tuple[int, ...] = ()  # days after Easter Sunday (40: Friday after Ascension)


def easter(year: int) -> date:
    """Return Easter Sunday of ``year`` (Gregorian calendar; anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * leap) // 433
    month = (h + leap - 7 * m + 90) // 25
    return date(year, month, (h + leap - 7 * m + 33 * month + 19) % 32)


@cache
def _holidays(
    country: str, categories: tuple[str, ...], year: int, closing: ClosingDays
) -> frozenset[date]:
    table = holidays.country_holidays(country, years=year, categories=categories)
    extra = {date(year, int(md[:2]), int(md[3:])) for md in closing.fixed}
    extra |= {easter(year) + timedelta(days=n) for n in closing.easter_offsets}
    return frozenset(table.keys()) | extra


def is_working_day(
    day: date,
    country: str,
    categories: tuple[str, ...] = ("public",),
    closing: ClosingDays = ClosingDays(),
) -> bool:
    """Return whether ``day`` is a working day in ``country`` (not a weekend or holiday)."""
    return day.weekday() < 5 and day not in _holidays(country, categories, day.year, closing)


def next_working_noon(
    moment: datetime,
    tz: str,
    country: str,
    categories: tuple[str, ...],
    noon: time,
    closing: ClosingDays = ClosingDays(),
) -> datetime | None:
    """Return noon of the next working day if ``moment`` falls on a non-working day, else None."""
    local_day = moment.astimezone(ZoneInfo(tz)).date()
    if is_working_day(local_day, country, categories, closing):
        return None
    day = local_day + timedelta(days=1)
    while not is_working_day(day, country, categories, closing):
        day += timedelta(days=1)
    return datetime.combine(day, noon).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
