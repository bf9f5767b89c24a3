"""SLA periods: calendar months in the customer's time zone, with exact DST lengths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.match(text)
        if not match or not 1970 <= int(match[1]) <= 9998:
            raise ValueError(f"{text!r} is not a month as YYYY-MM (e.g. 2025-06)")
        return cls(int(match[1]), int(match[2]))

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), 12 if self.month == 1 else self.month - 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def local_midnight(year: int, month: int, zone: ZoneInfo) -> int:
    """The instant the 1st of the month begins in ``zone`` (epoch seconds).

    Where a DST jump skips local midnight, the month starts at the first instant that
    exists after it (zoneinfo's ``fold=0`` maps the gap forward by the jump).
    """
    return int(datetime(year, month, 1, tzinfo=zone).timestamp())


@lru_cache(maxsize=4096)
def month_period(month: Month, timezone: str) -> tuple[int, int]:
    """``[1st 00:00 local, next 1st 00:00 local)`` as epoch seconds."""
    zone = ZoneInfo(timezone)
    after = month.next()
    return (
        local_midnight(month.year, month.month, zone),
        local_midnight(after.year, after.month, zone),
    )


def month_of(instant: int, timezone: str) -> Month:
    local = datetime.fromtimestamp(instant, UTC).astimezone(ZoneInfo(timezone))
    return Month(local.year, local.month)


def to_epoch(moment: datetime) -> int:
    """Whole seconds since the epoch, flooring any fraction (instants must be aware)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return (moment - EPOCH) // timedelta(seconds=1)


def from_epoch(instant: int) -> datetime:
    return datetime.fromtimestamp(instant, UTC)


@lru_cache(maxsize=4096)
def utc_text(instant: int) -> str:
    """RFC 3339 with ``Z``, as the API writes instants (cached: reports repeat them)."""
    return from_epoch(instant).isoformat().replace("+00:00", "Z")
