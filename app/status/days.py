"""Calendar days in a customer's time zone, as epoch-second periods (pure).

A day runs from local midnight to the next local midnight, so a DST day lasts 23 or
25 hours. Where a DST jump skips midnight, the day starts at the first instant that
exists after it, as months do (app.sla.periods.local_midnight).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.sla.intervals import Interval


def local_date(instant: int, timezone: str) -> date:
    """The calendar date of ``instant`` in ``timezone``."""
    return datetime.fromtimestamp(instant, UTC).astimezone(ZoneInfo(timezone)).date()


def day_start(day: date, timezone: str) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).timestamp())


def day_period(day: date, timezone: str) -> Interval:
    """``[day 00:00 local, next day 00:00 local)``."""
    return day_start(day, timezone), day_start(day + timedelta(days=1), timezone)


def last_days(now: int, timezone: str, count: int) -> list[tuple[date, Interval]]:
    """The ``count`` calendar days up to and including today, oldest first."""
    today = local_date(now, timezone)
    days = [today - timedelta(days=back) for back in range(count - 1, -1, -1)]
    return [(day, day_period(day, timezone)) for day in days]
