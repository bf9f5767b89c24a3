"""Folding stored results into stored segments (the timeline), incrementally.

For each queued (monitor, location), re-fold from the last success before the
earliest new result (``restart_point``): nothing before a success can change what
follows it, so the segments before it stay as stored and everything after is
replaced (``splice``). Results arriving in order cost a couple of rows each; a late
result re-folds only back to the success before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import CheckResult, FoldQueue, LocationSegment, Monitor
from app.monitoring.ingest import mark_dirty
from app.sla.timeline import Observation, Segment, fold_location, splice

log = logging.getLogger(__name__)


async def fold_pending(
    sessions: async_sessionmaker[AsyncSession],
    monitor_ids: Collection[int] | None = None,
) -> int:
    """Fold every queued pair (of the given monitors, or all); return how many."""
    async with sessions() as session:
        query = select(FoldQueue.monitor_id, FoldQueue.location)
        if monitor_ids is not None:
            query = query.where(FoldQueue.monitor_id.in_(monitor_ids))
        pairs = (await session.execute(query.order_by(FoldQueue.monitor_id))).all()
    folded = 0
    for monitor_id, location in pairs:
        async with sessions() as session, session.begin():
            folded += await fold_pair(session, monitor_id, location)
    return folded


async def fold_pair(session: AsyncSession, monitor_id: int, location: str) -> int:
    """Fold one queued pair inside the caller's transaction; 0 if another worker has it."""
    entry = await session.scalar(
        select(FoldQueue)
        .where(FoldQueue.monitor_id == monitor_id, FoldQueue.location == location)
        # Several API processes on PostgreSQL: each pair is folded by one at a time.
        .with_for_update(skip_locked=True)
    )
    if entry is None:
        return 0
    dirty_from, version = entry.dirty_from, entry.version
    confirmations = await session.scalar(
        select(Monitor.failure_confirmations).where(Monitor.id == monitor_id)
    )
    if confirmations is None:  # the monitor is gone
        return 0
    pair = (CheckResult.monitor_id == monitor_id, CheckResult.location == location)
    restart = await session.scalar(
        select(func.max(CheckResult.checked_at)).where(
            *pair, CheckResult.ok.is_(True), CheckResult.checked_at < dirty_from
        )
    )
    results = select(CheckResult.checked_at, CheckResult.ok, CheckResult.interval_seconds).where(
        *pair
    )
    if restart is not None:
        results = results.where(CheckResult.checked_at >= restart)
    refolded = fold_location(
        (Observation(at, ok, interval) for at, ok, interval in await session.execute(results)),
        confirmations,
    )

    segment_pair = (LocationSegment.monitor_id == monitor_id, LocationSegment.location == location)
    affected = select(LocationSegment).where(*segment_pair)
    if restart is not None:
        affected = affected.where(LocationSegment.end >= restart)
    stored = list(await session.scalars(affected.order_by(LocationSegment.start)))
    spliced = splice([Segment(s.start, s.end, s.failing) for s in stored], refolded, restart)
    if stored:
        await session.execute(
            delete(LocationSegment).where(LocationSegment.id.in_([s.id for s in stored]))
        )
    session.add_all(
        LocationSegment(
            monitor_id=monitor_id, location=location, start=s.start, end=s.end, failing=s.failing
        )
        for s in spliced
    )
    # Done only if no result arrived meanwhile (ingestion bumps the version).
    await session.execute(
        delete(FoldQueue).where(
            FoldQueue.monitor_id == monitor_id,
            FoldQueue.location == location,
            FoldQueue.version == version,
        )
    )
    return 1


async def refold_monitor(session: AsyncSession, monitor_id: int) -> None:
    """Queue a monitor's whole history for re-folding (e.g. its confirmations changed)."""
    locations = await session.scalars(
        select(CheckResult.location).where(CheckResult.monitor_id == monitor_id).distinct()
    )
    await mark_dirty(session, {(monitor_id, location): 0 for location in locations})


async def run_folder(sessions: async_sessionmaker[AsyncSession], every: float) -> None:
    """The background folder: fold whatever is queued, every ``every`` seconds."""
    while True:
        try:
            count = await fold_pending(sessions)
            if count:
                log.debug("folded %d monitor locations", count)
        except Exception:  # keep folding later; a report folds what it needs itself
            log.exception("folding failed; will retry")
        await asyncio.sleep(every)
