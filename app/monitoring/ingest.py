"""Storing check results in batches, from the API and the in-process scheduler alike.

Ingestion stores raw results and marks each (monitor, location) as needing a fold
from its earliest new result; folding happens apart (app.monitoring.folding), so a
batch costs two statements whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CheckResult, FoldQueue, Monitor
from app.sla.timeline import Observation, dedupe

FUTURE_TOLERANCE = 300  # seconds a result may be ahead of the server's clock


@dataclass(frozen=True, slots=True)
class ResultIn:
    monitor_id: int
    location: str
    checked_at: int  # epoch seconds
    ok: bool
    interval_seconds: int | None = None
    latency_ms: int | None = None
    status_code: int | None = None
    error: str | None = None


class BatchError(ValueError):
    """A row of the batch is unacceptable; the whole batch is refused."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


def upsert_for(session: AsyncSession) -> Callable[[Any], Any]:
    """The dialect's INSERT, which has ``on_conflict_do_update`` on both databases."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


async def check_batch(session: AsyncSession, rows: Sequence[ResultIn], now: int) -> dict[int, int]:
    """Raise BatchError for the first bad row; return each monitor's interval."""
    ids = {row.monitor_id for row in rows}
    found = (
        await session.execute(
            select(Monitor.id, Monitor.interval_seconds, Monitor.locations).where(
                Monitor.id.in_(ids)
            )
        )
    ).all()
    monitors = {m.id: (m.interval_seconds, m.locations) for m in found}
    for index, row in enumerate(rows):
        if row.monitor_id not in monitors:
            raise BatchError(index, "monitor_id", f"monitor {row.monitor_id} does not exist")
        if row.location not in monitors[row.monitor_id][1]:
            raise BatchError(
                index,
                "location",
                f"monitor {row.monitor_id} is not probed from {row.location!r} "
                f"(its locations: {', '.join(monitors[row.monitor_id][1])})",
            )
        if row.checked_at > now + FUTURE_TOLERANCE:
            raise BatchError(index, "checked_at", "checked_at is more than 5 minutes in the future")
    return {ident: interval for ident, (interval, _) in monitors.items()}


async def store_results(
    session: AsyncSession,
    rows: Sequence[ResultIn],
    now: int,
    intervals: dict[int, int] | None = None,
) -> int:
    """Store a checked batch (duplicates once) and queue the fold. The caller commits."""
    if not rows:
        return 0
    if intervals is None:
        intervals = await check_batch(session, rows, now)
    values = _unique_rows(rows, intervals, now)
    insert = upsert_for(session)

    results = insert(CheckResult)
    table = CheckResult.__table__.c
    # A duplicate keeps the copy the fold would keep (a failure, then the shorter
    # interval), so arrival order never matters.
    replaces = or_(
        and_(~results.excluded.ok, table.ok),
        and_(
            results.excluded.ok == table.ok,
            results.excluded.interval_seconds < table.interval_seconds,
        ),
    )
    results = results.on_conflict_do_update(
        index_elements=["monitor_id", "location", "checked_at"],
        set_={
            name: results.excluded[name]
            for name in ("ok", "interval_seconds", "latency_ms", "status_code", "error")
        },
        where=replaces,
    )
    await session.execute(results, values)

    earliest: dict[tuple[int, str], int] = {}
    for value in values:
        key = (value["monitor_id"], value["location"])
        earliest[key] = min(earliest.get(key, value["checked_at"]), value["checked_at"])
    await mark_dirty(session, earliest)
    return len(rows)


async def mark_dirty(session: AsyncSession, earliest: dict[tuple[int, str], int]) -> None:
    """Queue (monitor, location) pairs for folding from the given instants on."""
    if not earliest:
        return
    queue = upsert_for(session)(FoldQueue)
    table = FoldQueue.__table__.c
    queue = queue.on_conflict_do_update(
        index_elements=["monitor_id", "location"],
        set_={
            "dirty_from": case(
                (queue.excluded.dirty_from < table.dirty_from, queue.excluded.dirty_from),
                else_=table.dirty_from,
            ),
            "version": table.version + 1,
        },
    )
    await session.execute(
        queue,
        [
            {"monitor_id": m, "location": loc, "dirty_from": at, "version": 1}
            for (m, loc), at in sorted(earliest.items())
        ],
    )


def _unique_rows(
    rows: Sequence[ResultIn], intervals: dict[int, int], now: int
) -> list[dict[str, Any]]:
    """One row per key (a single INSERT may not touch a key twice), chosen as the fold
    would choose among duplicates."""
    groups: dict[tuple[int, str], list[ResultIn]] = {}
    for row in rows:
        groups.setdefault((row.monitor_id, row.location), []).append(row)
    values = []
    for (monitor_id, location), group in groups.items():
        default = intervals[monitor_id]
        by_obs = {Observation(r.checked_at, r.ok, r.interval_seconds or default): r for r in group}
        for kept in dedupe(by_obs):
            row = by_obs[kept]
            values.append(
                {
                    "monitor_id": monitor_id,
                    "location": location,
                    "checked_at": kept.at,
                    "ok": kept.ok,
                    "interval_seconds": kept.interval,
                    "latency_ms": row.latency_ms,
                    "status_code": row.status_code,
                    "error": row.error[:1000] if row.error else None,
                    "received_at": now,
                }
            )
    return values
