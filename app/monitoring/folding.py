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
to the success before it. Never before the pair's retention floor, though: results
before it were pruned (app.monitoring.retention), and the timeline there is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.availability import unreachable
from app.models import CheckResult, DirtyMarks, LocationSegment, Monitor, ResultFloor
from app.monitoring.marks import decode
from app.monitoring.state_changes import record_changes
from app.reporting.adjustments import note_late_data
from app.sla.timeline import Observation, Segment, first_difference, fold_location, splice

log = logging.getLogger(__name__)

LOG_ROWS_PER_PASS = 200
PAIRS_PER_TRANSACTION = 50  # SQLite's folder: how long others wait for its lock
READ_PAIRS_PER_TRANSACTION = 50  # a read's fold checks its time budget this often

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
    patience_seconds: float = 0.3,
) -> Folded:
    """Fold what the log marks: all of it (consuming the log), or only the given
    monitors' pairs (leaving the log for the folder; a monitor another process is
    folding is waited for up to ``patience_seconds``, then left to it and the result
    is not ``complete``). State changes are reconciled in the same transaction as the
    segments they come from.

    Folding all of it takes only the log rows present when it starts, so a steady
    stream of new batches cannot keep it going. With ``budget_seconds`` (a request
    that reports figures) it folds a few pairs per transaction until the budget runs
    out (``Folded.complete`` says whether it got through): its latency stays bounded
    during a burst, and the figures say that results are still pending."""
    if monitor_ids is not None:
        wanted = set(monitor_ids)
        async with sessions() as session:
            pending = merge_marks(await session.scalars(select(DirtyMarks.marks)))
        pairs = {k: v for k, v in pending.items() if k[0] in wanted}
        busy: set[Pair] = set()
        deadline = time.monotonic() + patience_seconds
        async with sessions() as session, session.begin():
            services = await _fold_pairs(session, pairs, deadline, busy)
        return Folded(len(pairs) - len(busy), frozenset(services), complete=not busy)

    if budget_seconds is not None:
        deadline = time.monotonic() + budget_seconds
        done = await _fold_in_chunks(sessions, None, READ_PAIRS_PER_TRANSACTION, deadline)
        return done or Folded(0, frozenset())
    async with sessions() as session:
        upto = await session.scalar(select(func.max(DirtyMarks.id)))
        sqlite = session.get_bind().dialect.name == "sqlite"
    folded, touched = 0, set[int]()
    while upto is not None:
        if sqlite:
            # One writer at a time: fold in short transactions, so readers and
            # ingestion wait for a chunk, not for a whole pass.
            done = await _fold_in_chunks(sessions, upto, PAIRS_PER_TRANSACTION)
        else:
            done = await _fold_pass(sessions, upto)
        if done is None:
            break
        folded += done.pairs
        touched |= done.services
    return Folded(folded, frozenset(touched))


def _log_rows(upto: int | None) -> Select[tuple[int, list[list[Any]]]]:
    """The oldest log rows (up to ``upto``), one pass's worth."""
    query = select(DirtyMarks.id, DirtyMarks.marks).order_by(DirtyMarks.id).limit(LOG_ROWS_PER_PASS)
    return query if upto is None else query.where(DirtyMarks.id <= upto)


async def _fold_pass(sessions: async_sessionmaker[AsyncSession], upto: int) -> Folded | None:
    """One pass in one transaction: log rows up to ``upto`` (skipping those another
    process holds), their pairs folded, the rows consumed. None when none was left."""
    async with sessions() as session, session.begin():
        # Several processes on PostgreSQL each take different log rows.
        rows = (await session.execute(_log_rows(upto).with_for_update(skip_locked=True))).all()
        if not rows:
            return None
        pairs = merge_marks(marks for _, marks in rows)
        touched = await _fold_pairs(session, pairs)
        await session.execute(delete(DirtyMarks).where(DirtyMarks.id.in_([i for i, _ in rows])))
        return Folded(len(pairs), frozenset(touched))


async def _fold_in_chunks(
    sessions: async_sessionmaker[AsyncSession],
    upto: int | None,
    chunk: int,
    deadline: float | None = None,
) -> Folded | None:
    """One pass in transactions of at most ``chunk`` pairs: SQLite's folder (readers
    and ingestion wait for a chunk, not a pass) and a read's budgeted fold (which stops
    at ``deadline`` and leaves a monitor another process is folding to it). The log
    rows are consumed only once all their pairs are folded; else the folder folds them
    again (folding is idempotent). None when no log row was left."""
    async with sessions() as session:
        rows = (await session.execute(_log_rows(upto))).all()
    if not rows:
        return None
    pairs = sorted(merge_marks(marks for _, marks in rows).items())
    touched: set[int] = set()
    busy: set[Pair] = set()
    for start in range(0, len(pairs), chunk):
        if deadline is not None and time.monotonic() >= deadline:
            return Folded(start, frozenset(touched), complete=False)
        async with sessions() as session, session.begin():
            touched |= await _fold_pairs(
                session, dict(pairs[start : start + chunk]), deadline, busy
            )
    if busy:  # another process has those: leave the rows to it
        return Folded(len(pairs) - len(busy), frozenset(touched), complete=False)
    async with sessions() as session, session.begin():
        # Rows another folder holds now are its to delete: never wait for it.
        held = (
            select(DirtyMarks.id)
            .where(DirtyMarks.id.in_([i for i, _ in rows]))
            .with_for_update(skip_locked=True)
        )
        await session.execute(delete(DirtyMarks).where(DirtyMarks.id.in_(held.scalar_subquery())))
    return Folded(len(pairs), frozenset(touched), complete=len(rows) < LOG_ROWS_PER_PASS)


async def pending_marks(session: AsyncSession) -> bool:
    """Whether stored results are still waiting to be folded."""
    return await session.scalar(select(DirtyMarks.id).limit(1)) is not None


class Busy(Exception):
    """Another process is folding this monitor (and a read would not wait)."""


async def _fold_pairs(
    session: AsyncSession,
    pairs: dict[Pair, int],
    deadline: float | None = None,
    busy: set[Pair] | None = None,
) -> set[int]:
    """Fold the pairs of new results, then reconcile the state changes of what moved
    and note closed months that late results reached. With a ``deadline`` (a read), a
    monitor another process is folding is waited for only until then, then left to it
    and added to ``busy``."""
    changed: dict[int, int] = {}
    for (monitor_id, location), dirty_from in sorted(pairs.items()):
        try:
            since = await fold_pair(session, monitor_id, location, dirty_from, deadline)
        except Busy:
            if busy is not None:
                busy.add((monitor_id, location))
            continue
        if since is not None:
            changed[monitor_id] = min(since, changed.get(monitor_id, since))
    services = await record_changes(session, changed)
    # Arrivals count too where a monitor's confirmations changed since a close: a late
    # failure that is a blip today may have counted under the frozen setting.
    arrived: dict[int, int] = {}
    for (monitor_id, _), dirty_from in pairs.items():
        arrived[monitor_id] = min(dirty_from, arrived.get(monitor_id, dirty_from))
    await note_late_data(session, changed, int(time.time()), arrived)
    return services


async def fold_pair(
    session: AsyncSession,
    monitor_id: int,
    location: str,
    dirty_from: int,
    deadline: float | None = None,
) -> int | None:
    """Re-fold one (monitor, location) from ``dirty_from`` on, in the caller's
    transaction. Returns the earliest instant whose segments changed, or None."""
    if session.get_bind().dialect.name == "postgresql":
        # One folder at a time per monitor, across processes; released at commit.
        await _lock_monitor(session, monitor_id, deadline)
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
    floor = await session.scalar(
        select(ResultFloor.before).where(
            ResultFloor.monitor_id == monitor_id, ResultFloor.location == location
        )
    )
    if floor is not None and (restart is None or restart < floor):
        # Results before the floor were pruned (app.monitoring.retention): the timeline
        # there is final, and the floor is a kept success to fold from.
        restart = floor
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


async def _lock_monitor(session: AsyncSession, monitor_id: int, deadline: float | None) -> None:
    """The monitor's advisory lock: waited for as long as it takes, or (a read) until
    ``deadline``, polling, since an advisory lock wait cannot be bounded without
    aborting the transaction."""
    if deadline is None:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": monitor_id})
        return
    while not await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": monitor_id}
    ):
        if time.monotonic() >= deadline:
            raise Busy(monitor_id)
        await asyncio.sleep(0.02)


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
        except Exception as exc:  # keep folding later; a report folds what it needs itself
            if not unreachable(exc):  # an outage is logged once (app.availability)
                log.exception("folding failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
