"""Storing check results in batches, from the API and the in-process scheduler alike.

A batch costs one INSERT of its results (an upsert only when it collides with stored
rows) and one row in the ``dirty_marks`` log naming what it touched; folding into the
timeline happens apart (app.monitoring.folding).
Which monitors exist, and where they are probed from, comes from a short-lived cache
(``MonitorDirectory``), so validating a batch needs no query in the usual case.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CheckResult, DirtyMarks, Monitor
from app.monitoring.checks import ResultIn
from app.monitoring.marks import by_shard, encode
from app.sla.timeline import Observation, dedupe
from probes.result import clean_message

FUTURE_TOLERANCE = 300  # seconds a result may be ahead of the server's clock


@dataclass(frozen=True, slots=True)
class MonitorInfo:
    interval_seconds: int
    locations: frozenset[str]


class MonitorDirectory:
    """Monitors' intervals and locations, cached for ``ttl`` seconds.

    This process forgets a monitor at once when it changes it; a change made by
    another process is seen within ``ttl``. Until then a result for a location just
    removed is still accepted (harmless), and one for a monitor just deleted fails the
    batch on the foreign key (a 409; the agent's retry then gets the 422).
    """

    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[int, tuple[float, MonitorInfo | None]] = {}

    async def lookup(self, session: AsyncSession, ids: Collection[int]) -> dict[int, MonitorInfo]:
        now = self.clock()
        stale = [i for i in ids if i not in self._entries or self._entries[i][0] <= now]
        if stale:
            found = {
                row.id: MonitorInfo(row.interval_seconds, frozenset(row.locations))
                for row in await session.execute(
                    select(Monitor.id, Monitor.interval_seconds, Monitor.locations).where(
                        Monitor.id.in_(stale)
                    )
                )
            }
            for ident in stale:
                self._entries[ident] = (now + self.ttl, found.get(ident))
        known = {}
        for ident in ids:
            info = self._entries[ident][1]
            if info is not None:
                known[ident] = info
        return known

    def forget(self, monitor_id: int) -> None:
        self._entries.pop(monitor_id, None)


MAX_ERRORS = 1000  # the most bad rows a refused batch's 422 names


class BatchError(ValueError):
    """A row of the batch is unacceptable; the whole batch is refused."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


class BatchRefused(ValueError):
    """The batch is refused for its bad rows: every one of them in row order, up to
    ``MAX_ERRORS`` (an agent drops them all at once and sends the rest again)."""

    def __init__(self, errors: list[BatchError]) -> None:
        super().__init__(f"{len(errors)} bad row(s), the first: {errors[0]}")
        self.errors = errors


def _check_row(
    index: int, row: ResultIn, monitors: dict[int, MonitorInfo], now: int
) -> BatchError | None:
    info = monitors.get(row.monitor_id)
    if info is None:
        return BatchError(index, "monitor_id", f"monitor {row.monitor_id} does not exist")
    if row.location not in info.locations:
        return BatchError(
            index,
            "location",
            f"monitor {row.monitor_id} is not probed from {row.location!r} "
            f"(its locations: {', '.join(sorted(info.locations))})",
        )
    if row.checked_at > now + FUTURE_TOLERANCE:
        return BatchError(index, "checked_at", "checked_at is more than 5 minutes in the future")
    return None


async def bad_rows(
    session: AsyncSession,
    rows: Sequence[tuple[int, ResultIn]],
    now: int,
    directory: MonitorDirectory,
    limit: int = MAX_ERRORS,
) -> list[BatchError]:
    """What ``ingest`` would refuse among ``rows`` (each with its index in the batch), up
    to ``limit``: for a batch already refused for other rows, so that its 422 names
    every bad row at once."""
    monitors = await directory.lookup(session, {row.monitor_id for _, row in rows})
    errors = []
    for index, row in rows:
        error = _check_row(index, row, monitors, now)
        if error is not None:
            errors.append(error)
            if len(errors) >= limit:
                break
    return errors


async def ingest(
    session: AsyncSession, rows: Sequence[ResultIn], now: int, directory: MonitorDirectory
) -> int:
    """Validate a batch whole, then store it. The caller commits."""
    monitors = await directory.lookup(session, {row.monitor_id for row in rows})
    intervals = {ident: info.interval_seconds for ident, info in monitors.items()}
    return await store_results(session, rows, now, intervals, validate=monitors)


def upsert_for(session: AsyncSession) -> Callable[[Any], Any]:
    """The dialect's INSERT, which has ``on_conflict_do_update`` on both databases."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


async def store_results(
    session: AsyncSession,
    rows: Sequence[ResultIn],
    now: int,
    intervals: dict[int, int],
    validate: dict[int, MonitorInfo] | None = None,
) -> int:
    """Store rows (duplicates once) and log what needs folding. With ``validate``, each
    row is checked against those monitors first (``BatchRefused`` naming every bad row,
    up to ``MAX_ERRORS``, before anything is written); the scheduler's own rows need no
    check."""
    if not rows:
        return 0
    if validate is not None:
        errors = []
        for index, r in enumerate(rows):
            error = _check_row(index, r, validate, now)
            if error is not None:
                errors.append(error)
                if len(errors) == MAX_ERRORS:
                    break
        if errors:
            raise BatchRefused(errors)
    # One pass over the batch: row values, duplicate detection and the earliest
    # result of each pair (this loop is most of ingestion's own cost).
    values: list[dict[str, Any]] = []
    keys: set[tuple[int, str, int]] = set()
    earliest: dict[tuple[int, str], int] = {}
    for r in rows:
        values.append(
            _values(r, r.checked_at, r.ok, r.interval_seconds or intervals[r.monitor_id], now)
        )
        keys.add((r.monitor_id, r.location, r.checked_at))
        pair = (r.monitor_id, r.location)
        if r.checked_at < earliest.get(pair, r.checked_at + 1):
            earliest[pair] = r.checked_at
    if len(keys) != len(rows):
        values = _unique_rows(rows, intervals, now)
    await _insert_results(session, values)
    await mark_dirty(session, earliest, now)
    return len(rows)


async def _insert_results(session: AsyncSession, values: list[dict[str, Any]]) -> None:
    """Insert the rows; a row that collides with a stored one resolves as the fold would.

    The common batch collides with nothing, and a plain INSERT is the cheapest way to
    store it: ``ON CONFLICT`` makes both databases look for a conflict before every row
    (measured: 9-20 % slower). So the plain INSERT goes first, and only a batch that
    hits a duplicate is written again with the resolving upsert, which leaves rows
    already inserted unchanged. SQLite undoes only the failed statement; PostgreSQL
    aborts the transaction, so there the INSERT runs inside a savepoint.
    """
    table = cast(Table, CheckResult.__table__)
    try:
        if session.get_bind().dialect.name == "postgresql":
            async with session.begin_nested():
                await session.execute(insert(table), values)
        else:
            await session.execute(insert(table), values)
        return
    except IntegrityError:
        pass  # a duplicate (or a deleted monitor, which the upsert reports again)
    upsert = upsert_for(session)(table)
    # A duplicate keeps the copy the fold would keep (a failure, then the shorter
    # interval), so arrival order never matters.
    replaces = or_(
        and_(~upsert.excluded.ok, table.c.ok),
        and_(
            upsert.excluded.ok == table.c.ok,
            upsert.excluded.interval_seconds < table.c.interval_seconds,
        ),
    )
    upsert = upsert.on_conflict_do_update(
        index_elements=["monitor_id", "location", "checked_at"],
        set_={
            name: upsert.excluded[name]
            for name in ("ok", "interval_seconds", "latency_ms", "status_code", "error", "warning")
        },
        where=replaces,
    )
    await session.execute(upsert, values)


async def mark_dirty(session: AsyncSession, earliest: dict[tuple[int, str], int], now: int) -> None:
    """Log (monitor, location) pairs for folding from the given instants on: one row
    per shard touched (app.monitoring.marks), in one statement."""
    if earliest:
        log_table = cast(Table, DirtyMarks.__table__)
        rows = [
            {"shard": shard, "marks": encode(pairs), "created_at": now}
            for shard, pairs in sorted(by_shard(earliest).items())
        ]
        await session.execute(insert(log_table), rows)


def _unique_rows(
    rows: Sequence[ResultIn], intervals: dict[int, int], now: int
) -> list[dict[str, Any]]:
    """One row per key (a single INSERT may not touch a key twice), chosen as the fold
    would choose among duplicates."""
    groups: dict[tuple[int, str], list[ResultIn]] = {}
    for row in rows:
        groups.setdefault((row.monitor_id, row.location), []).append(row)
    values = []
    for group in groups.values():
        # A row's own interval first: the in-process buffer passes no defaults.
        by_obs = {
            Observation(r.checked_at, r.ok, r.interval_seconds or intervals[r.monitor_id]): r
            for r in group
        }
        for kept in dedupe(by_obs):
            values.append(_values(by_obs[kept], kept.at, kept.ok, kept.interval, now))
    return values


def _values(row: ResultIn, at: int, ok: bool, interval: int, now: int) -> dict[str, Any]:
    return {
        "monitor_id": row.monitor_id,
        "location": row.location,
        "checked_at": at,
        "ok": ok,
        "interval_seconds": interval,
        "latency_ms": row.latency_ms,
        "status_code": row.status_code,
        # Storable whatever made the row (a NUL would fail the insert on PostgreSQL).
        "error": clean_message(row.error) if row.error else None,
        "warning": clean_message(row.warning) if row.warning else None,
        "received_at": now,
    }
