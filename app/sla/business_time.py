"""Business time: the clock arithmetic of SLA_RULES.md section 8 on support calendars.

Standard library only, integer epoch seconds, ``now`` always an argument. The calendars
themselves (parsing, ``Calendar``, validation) are app.sla.calendars.

A *calendar* is weekly support hours (several ranges a day allowed) in an IANA zone,
with holidays (dates in that zone). ``None`` stands for 24/7. The definition that
settles every DST question: **an instant is business time when its local wall-clock
time (in the calendar's zone) falls inside one of the ranges of its local date, and
that date is not a holiday.** So a spring-forward night's missing hour is simply not
there (a range 00:00-24:00 is 23 hours that day), the repeated hour of a fall-back
night counts twice if it is inside a range (00:00-24:00 is 25 hours), and a calendar
open 00:00-24:00 every day equals 24/7 in any zone (a property test checks this).

- ``business_seconds(cal, start, stop)``: business seconds in ``[start, stop)``.
- ``elapsed(cal, start, stop, pauses)``: the same minus the pauses.
- ``due_at(cal, start, target, pauses)``: the earliest instant at which ``elapsed``
  reaches ``target`` (so a target met exactly at the boundary is met), or None if the
  clock never gets there (a pause that has not ended, a calendar without hours).

Nothing walks minute by minute: a calendar's business intervals are built four weeks
at a time (one "chunk", built once and kept on the calendar object), each with running
totals, so a clock of any length is a few bisections per chunk it spans.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.sla.calendars import Calendar
from app.sla.intervals import Interval, union

DAY = 86_400
# An instant no clock reaches: a pause ending here has not ended.
FOREVER = 2**62

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CHUNK_DAYS = 28  # four weeks: a chunk starts on a Monday (ordinal 1 is a Monday)
# Dates whose chunk (with its two days either side) still fits in datetime's range.
_FIRST_ORDINAL = date(1, 1, 1).toordinal() + 2 * _CHUNK_DAYS
_LAST_ORDINAL = date(9999, 12, 31).toordinal() - 2 * _CHUNK_DAYS
_CACHED_CHUNKS = 1024  # per calendar; past this the cache starts again


# --- the zone's offsets, as pieces of constant offset ----------------------------------


def _offset(tz: ZoneInfo, instant: int) -> int:
    offset = datetime.fromtimestamp(instant, tz).utcoffset()
    assert offset is not None
    return offset.days * DAY + offset.seconds


Pieces = tuple[tuple[int, int, int], ...]


@lru_cache(maxsize=8192)
def _chunk_pieces(timezone: str, k: int) -> Pieces:
    """The zone's offsets around chunk ``k`` (shared by every calendar in that zone)."""
    first_label = (1 + k * _CHUNK_DAYS - _EPOCH_ORDINAL) * DAY
    after_label = first_label + _CHUNK_DAYS * DAY
    return tuple(_pieces(ZoneInfo(timezone), first_label - 3 * DAY, after_label + 3 * DAY))


def _pieces(tz: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """``[(start, end, utc offset)]`` covering ``[lo, hi)``, the offset constant in each.

    The offset is probed every 12 hours and each change found by bisection: exact as
    long as a zone never changes its offset twice within 12 hours. None has: from 1970
    to 2037 no two changes in the tz database are even three days apart (Morocco's
    Ramadan ones are weeks apart), and later years follow yearly DST rules."""
    step = DAY // 2
    pieces: list[tuple[int, int, int]] = []
    start, current = lo, _offset(tz, lo)
    probe = lo
    while probe < hi:
        following = min(probe + step, hi)
        offset = _offset(tz, following)
        if offset != current:
            # The first instant in (probe, following] with the new offset.
            low, high = probe, following
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(tz, middle) == current:
                    low = middle
                else:
                    high = middle
            pieces.append((start, high, current))
            start, current = high, _offset(tz, high)
        probe = following
    pieces.append((start, hi, current))
    return pieces


def _first_instant_of(label: int, pieces: Pieces) -> int:
    """The first instant whose local wall-clock time (as naive epoch seconds) is at or
    after ``label``: local midnight, or the end of the DST gap that skipped it."""
    for start, end, offset in pieces:
        candidate = max(start, label - offset)
        if candidate < end:
            return candidate
    return pieces[-1][1]


# --- chunks: four weeks of business intervals with running totals -----------------------


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Business intervals in ``[lo, hi)``: the instants from local midnight of the
    chunk's first date to that of the next chunk's (so chunks tile the time line)."""

    k: int
    lo: int
    hi: int
    starts: list[int]
    ends: list[int]
    before: list[int]  # business seconds of the chunk before interval i
    through: list[int]  # ... up to the end of interval i
    total: int

    def prefix(self, instant: int) -> int:
        """Business seconds of this chunk before ``instant``."""
        i = bisect_right(self.starts, instant) - 1
        if i < 0:
            return 0
        return self.before[i] + min(instant, self.ends[i]) - self.starts[i]

    def reach(self, seconds: int) -> int:
        """The earliest instant with ``seconds`` (0 < seconds <= total) before it."""
        i = bisect_left(self.through, seconds)
        return self.starts[i] + seconds - self.before[i]


def _build_chunk(calendar: Calendar, k: int) -> _Chunk:
    first = 1 + k * _CHUNK_DAYS  # ordinal of the chunk's Monday
    after = first + _CHUNK_DAYS
    first_label = (first - _EPOCH_ORDINAL) * DAY
    after_label = (after - _EPOCH_ORDINAL) * DAY
    pieces = _chunk_pieces(calendar.timezone, k)
    lo = _first_instant_of(first_label, pieces)
    hi = _first_instant_of(after_label, pieces)
    raw: list[Interval] = []
    week, holidays = calendar.week, calendar.holidays
    # Two days either side: a date's instants may lie up to ~26 hours from its UTC
    # midnight, and a fall-back at midnight puts a date's last hour after the next one's
    # midnight.
    for ordinal in range(first - 2, after + 2):
        ranges = week[(ordinal - 1) % 7]
        if not ranges or ordinal in holidays:
            continue
        midnight = (ordinal - _EPOCH_ORDINAL) * DAY
        for p_start, p_end, offset in pieces:
            base = midnight - offset
            if base + DAY <= p_start or base >= p_end:
                continue
            for a, b in ranges:
                start, end = max(p_start, base + a), min(p_end, base + b)
                if start < end:
                    raw.append((start, end))
    starts: list[int] = []
    ends: list[int] = []
    before: list[int] = []
    through: list[int] = []
    total = 0
    for start, end in union(raw):
        start, end = max(start, lo), min(end, hi)
        if start < end:
            starts.append(start)
            ends.append(end)
            before.append(total)
            total += end - start
            through.append(total)
    return _Chunk(k, lo, hi, starts, ends, before, through, total)


def _chunk(calendar: Calendar, k: int) -> _Chunk:
    chunks = calendar._chunks
    found = chunks.get(k)
    if found is None:
        if len(chunks) >= _CACHED_CHUNKS:
            chunks.clear()
            calendar._recent.clear()
        found = chunks[k] = _build_chunk(calendar, k)
    return found


def _chunk_index(calendar: Calendar, instant: int) -> tuple[int, _Chunk]:
    """The chunk holding ``instant``: the one used last if it holds it (clocks come in
    runs on one calendar), else guessed from its UTC date and checked against the
    chunk's bounds (local midnights are within a day of UTC midnight)."""
    recent = calendar._recent
    if recent and recent[0].lo <= instant < recent[0].hi:
        return recent[0].k, recent[0]
    ordinal = min(max(instant // DAY + _EPOCH_ORDINAL, _FIRST_ORDINAL), _LAST_ORDINAL)
    k = (ordinal - 1) // _CHUNK_DAYS
    chunk = _chunk(calendar, k)
    while instant < chunk.lo:
        k -= 1
        chunk = _chunk(calendar, k)
    while instant >= chunk.hi:
        k += 1
        chunk = _chunk(calendar, k)
    recent[:] = (chunk,)
    return k, chunk


def _k_beyond_range(k: int) -> bool:
    return 1 + (k + 1) * _CHUNK_DAYS > _LAST_ORDINAL


# --- the arithmetic -------------------------------------------------------------------


def business_seconds(calendar: Calendar | None, start: int, stop: int) -> int:
    """Business seconds in ``[start, stop)`` (0 if ``stop <= start``)."""
    if stop <= start:
        return 0
    if calendar is None:
        return stop - start
    recent = calendar._recent
    if recent and recent[0].lo <= start and stop <= recent[0].hi:
        # Both ends in the chunk used last (the common case, written out: a month's
        # compliance measures 200,000 clocks).
        chunk = recent[0]
        starts, ends, before = chunk.starts, chunk.ends, chunk.before
        i = bisect_right(starts, stop) - 1
        j = bisect_right(starts, start) - 1
        after_stop = before[i] + min(stop, ends[i]) - starts[i] if i >= 0 else 0
        after_start = before[j] + min(start, ends[j]) - starts[j] if j >= 0 else 0
        return after_stop - after_start
    k, chunk = _chunk_index(calendar, start)
    if stop <= chunk.hi:
        return chunk.prefix(stop) - chunk.prefix(start)
    seconds = chunk.total - chunk.prefix(start)
    while True:
        k += 1
        chunk = _chunk(calendar, k)
        if stop <= chunk.hi:
            return seconds + chunk.prefix(stop)
        seconds += chunk.total


def advance(calendar: Calendar | None, start: int, seconds: int) -> int | None:
    """The earliest instant ``t >= start`` with ``business_seconds(start, t) ==
    seconds``, or None if the calendar never gets there (no hours at all)."""
    if seconds <= 0:
        return start
    if calendar is None:
        return start + seconds
    if not calendar.has_hours:
        return None
    k, chunk = _chunk_index(calendar, start)
    need = seconds + chunk.prefix(start)
    while need > chunk.total:
        need -= chunk.total
        if _k_beyond_range(k):
            return None
        k += 1
        chunk = _chunk(calendar, k)
    return chunk.reach(need)


def _pauses(pauses: Iterable[Interval], start: int) -> Sequence[Interval]:
    """The pauses in order, without overlaps (touching is fine), those ending by
    ``start`` left out: as given when they already are (what an incident's replay
    gives), else merged."""
    listed = pauses if isinstance(pauses, list | tuple) else list(pauses)
    previous = None
    for pause_start, pause_end in listed:
        if pause_start >= pause_end or (previous is not None and pause_start < previous):
            return [(max(s, start), e) for s, e in union(listed) if e > start]
        previous = pause_end
    return listed


def elapsed(
    calendar: Calendar | None, start: int, stop: int, pauses: Iterable[Interval] = ()
) -> int:
    """Business seconds in ``[start, stop)`` outside the pauses; never negative."""
    seconds, cursor = 0, start
    if not pauses:
        return business_seconds(calendar, start, stop)
    for pause_start, pause_end in _pauses(pauses, start):
        if pause_start >= stop:
            break
        if pause_start > cursor:
            seconds += business_seconds(calendar, cursor, pause_start)
        if pause_end > cursor:
            cursor = pause_end
    if cursor < stop:
        seconds += business_seconds(calendar, cursor, stop)
    return seconds


def due_at(
    calendar: Calendar | None, start: int, target: int, pauses: Iterable[Interval] = ()
) -> int | None:
    """The earliest instant at which ``elapsed(calendar, start, t, pauses)`` reaches
    ``target`` seconds: None if a pause that never ends (``end >= FOREVER``) comes
    first, or the calendar has no hours."""
    if target <= 0:
        return start
    cursor, remaining = start, target
    for pause_start, pause_end in _pauses(pauses, start):
        if pause_start > cursor:
            available = business_seconds(calendar, cursor, pause_start)
            if available >= remaining:
                return advance(calendar, cursor, remaining)
            remaining -= available
        cursor = max(cursor, pause_end)
        if cursor >= FOREVER:
            return None
    return advance(calendar, cursor, remaining)
