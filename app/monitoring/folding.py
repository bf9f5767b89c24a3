"""Folding stored results into stored segments (the timeline), incrementally.

Ingestion appends to the ``dirty_marks`` log what each batch touched. The folder
takes log rows in order, merges their marks per (monitor, location), re-folds each
pair and deletes exactly the log rows it read, so marks appended meanwhile wait for
the next pass. Folding a pair is idempotent: a report may fold the pairs it needs
without consuming the log.

Re-folding a pair starts at the last success before its earliest new result
(``restart_point``): nothing before a success can change what follows it, so the
segments before it stay as stored and everything after is replaced (``splice``).
Results arriving in order cost a couple of rows each; a late one re-folds only back
to the success before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import CheckResult, DirtyMarks, LocationSegment, Monitor
from app.monitoring.marks import decode
from app.monitoring.state_changes import record_changes
from app.reporting.adjustments import note_late_data
from app.sla.timeline import Observation, Segment, first_difference, fold_location, splice

log = logging.getLogger(__name__)

LOG_ROWS_PER_PASS = 200

Pair = tuple[int, str]


def merge_marks(rows: Iterable[list[list[Any]]]) -> dict[Pair, int]:
    """The earliest dirty instant of each (monitor, location) over many log rows."""
    earliest: dict[Pair, int] = {}
    for marks in rows:
        for monitor_id, location, at in decode(marks):
            key = (monitor_id, location)
            if at < earliest.get(key, at + 1):
                earliest[key] = at
    return earliest


@dataclass(frozen=True, slots=True)
class Folded:
    """What a fold pass did: the (monitor, location) pairs folded and the services
    whose stored state changed (their figures and state changes are recomputed)."""

    pairs: int
    services: frozenset[int]
    complete: bool = True


async def fold_pending(
    sessions: async_sessionmaker[AsyncSession],
    monitor_ids: Collection[int] | None = None,
    *,
    budget_seconds: float | None = None,
) -> Folded:
    """Fold what the log marks: all of it (consuming the log), or only the given
    monitors' pairs (leaving the log for the folder). State changes are reconciled in
    the same transaction as the segments they come from.

    Folding all of it takes only the log rows present when it starts, so a steady
    stream of new batches cannot keep it going; with ``budget_seconds`` it stops after
    the pass that used the budget up (``Folded.complete`` says whether it got through).
    A request that reports figures passes a budget: its latency stays bounded during a
    burst, and the figures say that results are still pending."""
    if monitor_ids is not None:
        wanted = set(monitor_ids)
        async with sessions() as session:
            pending = merge_marks(await session.scalars(select(DirtyMarks.marks)))
        pairs = {k: v for k, v in pending.items() if k[0] in wanted}
        async with sessions() as session, session.begin():
            services = await _fold_pairs(session, pairs)
        return Folded(len(pairs), frozenset(services))

    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    async with sessions() as session:
        upto = await session.scalar(select(func.max(DirtyMarks.id)))
    folded, touched = 0, set[int]()
    while upto is not None:
        if deadline is not None and time.monotonic() >= deadline:
            return Folded(folded, frozenset(touched), complete=False)
        async with sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(DirtyMarks.id, DirtyMarks.marks)
                    .where(DirtyMarks.id <= upto)
                    .order_by(DirtyMarks.id)
                    .limit(LOG_ROWS_PER_PASS)
                    # Several processes on PostgreSQL each take different log rows.
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                break
            pairs = merge_marks(marks for _, marks in rows)
            touched |= await _fold_pairs(session, pairs)
            await session.execute(delete(DirtyMarks).where(DirtyMarks.id.in_([i for i, _ in rows])))
            folded += len(pairs)
    return Folded(folded, frozenset(touched))


async def pending_marks(session: AsyncSession) -> bool:
    """Whether stored results are still waiting to be folded."""
    return await session.scalar(select(DirtyMarks.id).limit(1)) is not None


async def _fold_pairs(session: AsyncSession, pairs: dict[Pair, int]) -> set[int]:
    """Fold the pairs of new results, then reconcile the state changes of what moved
    and note closed months that late results reached."""
    changed: dict[int, int] = {}
    for (monitor_id, location), dirty_from in sorted(pairs.items()):
        since = await fold_pair(session, monitor_id, location, dirty_from)
        if since is not None:
            changed[monitor_id] = min(since, changed.get(monitor_id, since))
    services = await record_changes(session, changed)
    await note_late_data(session, changed, int(time.time()))
    return services


async def fold_pair(
    session: AsyncSession, monitor_id: int, location: str, dirty_from: int
) -> int | None:
    """Re-fold one (monitor, location) from ``dirty_from`` on, in the caller's
    transaction. Returns the earliest instant whose segments changed, or None."""
    if session.get_bind().dialect.name == "postgresql":
        # One folder at a time per monitor, across processes; released at commit.
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": monitor_id})
    confirmations = await session.scalar(
        select(Monitor.failure_confirmations).where(Monitor.id == monitor_id)
    )
    if confirmations is None:  # the monitor is gone, and its results with it
        return None
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

    affected = select(LocationSegment).where(
        LocationSegment.monitor_id == monitor_id, LocationSegment.location == location
    )
    if restart is not None:
        affected = affected.where(LocationSegment.end >= restart)
    stored = list(await session.scalars(affected.order_by(LocationSegment.start)))
    before = [Segment(s.start, s.end, s.failing) for s in stored]
    spliced = splice(before, refolded, restart)
    since = first_difference(before, spliced)
    if since is None:
        return None  # nothing changed (e.g. folded before by a report)
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
    await session.flush()
    return since


async def refold_monitor(session: AsyncSession, monitor_id: int) -> None:
    """Re-fold a monitor's whole history now, in the caller's transaction (its
    confirmations changed). Not through the dirty log: that log carries new results
    only, and closed months tell late data from catalog edits by it."""
    locations = list(
        await session.scalars(
            select(CheckResult.location).where(CheckResult.monitor_id == monitor_id).distinct()
        )
    )
    changed: dict[int, int] = {}
    for location in sorted(locations):
        since = await fold_pair(session, monitor_id, location, 0)
        if since is not None:
            changed[monitor_id] = min(since, changed.get(monitor_id, since))
    await record_changes(session, changed)


async def run_folder(
    sessions: async_sessionmaker[AsyncSession],
    every: float,
    stop: asyncio.Event,
    on_folded: Callable[[Folded], None] | None = None,
) -> None:
    """The background folder: fold whatever the log marks, every ``every`` seconds,
    until ``stop`` is set. It stops between passes, never inside a database call.
    ``on_folded`` hears of each pass that changed something (e.g. to refresh a cache)."""
    while not stop.is_set():
        try:
            folded = await fold_pending(sessions)
            if folded.pairs:
                log.debug("folded %d monitor locations", folded.pairs)
            if folded.services and on_folded is not None:
                on_folded(folded)
        except Exception:  # keep folding later; a report folds what it needs itself
            log.exception("folding failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
