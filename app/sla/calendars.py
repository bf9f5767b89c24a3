"""Support calendars: weekly hours in an IANA zone with holidays (SLA_RULES.md section 8).

Standard library only. A *calendar* is weekly support hours (several ranges a day
allowed) in an IANA zone, with holidays (dates in that zone). ``None`` stands for 24/7.
This module owns parsing the API's shape (weekly hours, holidays), the ``Calendar``
value and its validation (``CalendarError`` naming where and why). The arithmetic on
calendars (elapsed, due_at, business_seconds) is app.sla.business_time, which also
keeps each calendar's cache of chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.sla.intervals import union

if TYPE_CHECKING:
    # Only for the cache's annotation: business_time imports this module at run time.
    from app.sla.business_time import _Chunk

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")

DayRanges = tuple[tuple[int, int], ...]  # (start, end) seconds of the local day


@dataclass(frozen=True, slots=True, eq=False)
class Calendar:
    """Weekly hours (Monday first), an IANA zone, holidays (date ordinals). Build one
    with ``Calendar.parse``. Compared by identity: it carries its cache of chunks."""

    timezone: str
    week: tuple[DayRanges, ...]
    holidays: frozenset[int] = frozenset()
    _chunks: dict[int, _Chunk] = field(init=False, repr=False)
    _recent: list[_Chunk] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("a week has 7 days of ranges, Monday first")
        zone(self.timezone)
        object.__setattr__(self, "_chunks", {})
        object.__setattr__(self, "_recent", [])

    @classmethod
    def parse(
        cls,
        timezone: str,
        hours: Mapping[str, Sequence[Sequence[str]]],
        holidays: Iterable[str | date] = (),
    ) -> Calendar:
        """From the API's shape: ``{"mon": [["09:00", "17:00"]], ...}`` and
        ``["2025-12-25", ...]``. Raises ``CalendarError`` naming what is wrong."""
        zone(timezone)
        unknown = sorted(set(hours) - set(WEEKDAYS))
        if unknown:
            raise CalendarError(("hours", unknown[0]), f"{unknown[0]!r} is not one of {WEEKDAYS}")
        week = tuple(day_ranges(hours.get(day, ()), ("hours", day)) for day in WEEKDAYS)
        ordinals = set()
        for i, holiday in enumerate(holidays):
            ordinals.add(parse_date(holiday, ("holidays", i)).toordinal())
        return cls(timezone, week, frozenset(ordinals))

    @property
    def has_hours(self) -> bool:
        return any(self.week)

    def weekly_seconds(self) -> int:
        """Business seconds in a week without holidays or DST changes."""
        return sum(end - start for day in self.week for start, end in day)


class CalendarError(ValueError):
    """A bad calendar, with where (``loc``, as in the API's body) and why."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            ("timezone",), f"{name!r} is not an IANA time zone name (e.g. 'Europe/Berlin')"
        ) from None


def time_of_day(text: str, loc: tuple[str | int, ...] = ()) -> int:
    """``"09:30"`` -> seconds since local midnight; ``"24:00"`` is the end of the day."""
    match = _TIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise CalendarError(loc, f"{text!r} is not a time of day as HH:MM, 00:00 to 24:00")
    hours, minutes = (match[1], match[2]) if match[1] is not None else (match[3], match[4])
    return int(hours) * 3600 + int(minutes) * 60


def day_ranges(ranges: Sequence[Sequence[str]], loc: tuple[str | int, ...] = ()) -> DayRanges:
    """A day's ranges, checked (each starts before it ends, none overlap) and merged
    where they touch, in order."""
    parsed: list[tuple[int, int]] = []
    for i, pair in enumerate(ranges):
        where = (*loc, i)
        if isinstance(pair, str) or len(pair) != 2:
            raise CalendarError(where, 'a range is ["HH:MM", "HH:MM"] (start, end)')
        start, end = time_of_day(pair[0], (*where, 0)), time_of_day(pair[1], (*where, 1))
        if start >= end:
            raise CalendarError(
                where, f"the range {pair[0]}-{pair[1]} ends before it starts (or is empty)"
            )
        parsed.append((start, end))
    parsed.sort()
    for (s1, e1), (s2, e2) in pairwise(parsed):
        if s2 < e1:
            raise CalendarError(
                loc, f"the ranges {_hhmm(s1)}-{_hhmm(e1)} and {_hhmm(s2)}-{_hhmm(e2)} overlap"
            )
    return tuple(union(parsed))


def parse_date(value: str | date, loc: tuple[str | int, ...] = ()) -> date:
    if isinstance(value, date):
        return value
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise CalendarError(loc, f"{value!r} is not a date as YYYY-MM-DD") from None


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
