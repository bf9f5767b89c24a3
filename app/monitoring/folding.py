"""Folding stored results into stored segments (the timeline), incrementally.

Ingestion appends to the ``dirty_marks`` log what each batch touched, one row per
shard of monitors (app.monitoring.marks). The folder takes a shard's log rows in
order, a chunk at a time, merges their marks per (monitor, location), re-folds those
pairs and deletes exactly the log rows it read, so marks appended meanwhile wait for
the next pass. Folding a pair is idempotent: a report may fold the pairs it needs
without consuming the log.

Re-folding a pair starts at the last success before its earliest new result
(``restart_point``): nothing before a success can change what follows it, so the
segments before it stay as stored and everything after is replaced (``splice``).
Results arriving in order cost a couple of rows each; a late one re-folds only back
to the success before it. Never before the pair's retention floor, though: results
before it were pruned (app.monitoring.retention), and the timeline there is final.

A chunk of pairs is folded with a few set-based queries (app.monitoring.fold_sql),
whatever its size, so the cost follows the results that arrived. On PostgreSQL a
folder holds its shard's advisory lock for the chunk's transaction: one lock, however
many monitors, and folders in several processes take different shards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.availability import unreachable
from app.models import CheckResult, DirtyMarks
from app.monitoring.fold_sql import refold
from app.monitoring.marks import SHARDS, decode, encode, shard_of
from app.monitoring.state_changes import record_changes
from app.reporting.adjustments import note_late_data

log = logging.getLogger(__name__)

# Pairs per transaction: big enough that a chunk's queries cost little per pair, small
# enough that a stop, a read or (SQLite) another writer waits for one chunk only.
CHUNK_PAIRS = {"postgresql": 500, "sqlite": 200}
LOG_ROWS_PER_CHUNK = 100
SHARD_LOCK = 2  # the advisory lock class of fold shards (1: services, state_changes)
ALL_SHARDS = tuple(range(1, SHARDS + 1))

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
    whose history of state changes changed (``record_changes``): their current
    figures are recomputed at once, the others' at the next full refresh."""

    pairs: int
    services: frozenset[int]
    complete: bool = True


class Busy(Exception):
    """Another process is folding this shard (and this fold would not wait)."""


async def fold_pending(
    sessions: async_sessionmaker[AsyncSession],
    monitor_ids: Collection[int] | None = None,
    *,
    budget_seconds: float | None = None,
    patience_seconds: float = 0.3,
    stop: asyncio.Event | None = None,
) -> Folded:
    """Fold what the log marks: all of it (consuming the log), or only the given
    monitors' pairs (leaving the log for the folder; a shard another process is
    folding is waited for up to ``patience_seconds``, then left to it and the result
    is not ``complete``). State changes are reconciled in the same transaction as the
    segments they come from.

    Folding all of it takes only the log rows present when it starts, so a steady
    stream of new batches cannot keep it going. It stops between chunks once ``stop``
    is set (the background folder, which also leaves a shard another process holds to
    it) or ``budget_seconds`` have passed (a request that reports figures:
    ``Folded.complete`` says whether it got through). Without either (closing a month)
    it waits for shards other processes hold, so everything logged is folded."""
    if monitor_ids is not None:
        return await _fold_monitors(sessions, set(monitor_ids), patience_seconds)
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    wait = stop is None and deadline is None
    async with sessions() as session:
        upto = await session.scalar(select(func.max(DirtyMarks.id)))
        if upto is None:
            return Folded(0, frozenset())
        present = set(
            await session.scalars(select(DirtyMarks.shard).where(DirtyMarks.id <= upto).distinct())
        )
    # Shard 0 (rows from before shards) first; the others from a random one on, so
    # folders in several processes start apart, or in order when waiting for them, so
    # folders that wait never wait on each other in a cycle.
    first = 0 if wait else random.randrange(SHARDS)
    todo = [s for s in (0, *ALL_SHARDS[first:], *ALL_SHARDS[:first]) if s in present]
    folded, touched, busy = 0, set[int](), set[int]()
    while todo:
        if (stop is not None and stop.is_set()) or (
            deadline is not None and time.monotonic() >= deadline
        ):
            left = not busy and await _left(sessions, upto)
            return Folded(folded, frozenset(touched), complete=not busy and not left)
        done, finished, held = await _fold_chunk(sessions, todo, upto, wait, deadline)
        folded += done.pairs
        touched |= done.services
        busy |= held  # another process folds those now: their rows are its own
        todo = [s for s in todo if s not in finished and s not in held]
    return Folded(folded, frozenset(touched), complete=not busy)


async def _left(sessions: async_sessionmaker[AsyncSession], upto: int) -> bool:
    """Whether log rows up to ``upto`` are still there."""
    async with sessions() as session:
        query = select(DirtyMarks.id).where(DirtyMarks.id <= upto).limit(1)
        return await session.scalar(query) is not None


async def _fold_chunk(
    sessions: async_sessionmaker[AsyncSession],
    shards: list[int],
    upto: int,
    wait: bool,
    deadline: float | None,
) -> tuple[Folded, set[int], set[int]]:
    """Fold, in one transaction, up to a chunk of pairs from the oldest log rows (up to
    ``upto``) of the given shards in turn, claiming each, and consume those rows.
    Returns what was folded, the shards whose rows are all consumed, and the shards
    another process holds (past ``deadline``, if any; never when ``wait``)."""
    async with sessions() as session, session.begin():
        limit = CHUNK_PAIRS.get(session.get_bind().dialect.name, CHUNK_PAIRS["sqlite"])
        pairs: dict[Pair, int] = {}
        consumed: list[int] = []
        finished: set[int] = set()
        held: set[int] = set()
        for shard in shards:
            try:
                claim = ALL_SHARDS if shard == 0 else (shard,)
                await _claim(session, claim, wait=wait, deadline=deadline)
            except Busy:
                held.add(shard)
                continue
            rows = (
                await session.execute(
                    select(DirtyMarks.id, DirtyMarks.marks)
                    .where(DirtyMarks.shard == shard, DirtyMarks.id <= upto)
                    .order_by(DirtyMarks.id)
                    .limit(LOG_ROWS_PER_CHUNK)
                )
            ).all()
            taken = 0
            for ident, marks in rows:
                more = merge_marks([marks])
                if pairs and len(pairs) + len(more) > limit:
                    break
                if len(more) > limit:
                    # One huge batch: fold a chunk of it, and keep the rest in its row.
                    ordered = sorted(more.items())
                    more = dict(ordered[:limit])
                    rest = encode(dict(ordered[limit:]))
                    await session.execute(
                        update(DirtyMarks).where(DirtyMarks.id == ident).values(marks=rest)
                    )
                else:
                    consumed.append(ident)
                    taken += 1
                for pair, at in more.items():
                    if at < pairs.get(pair, at + 1):
                        pairs[pair] = at
                if len(pairs) >= limit:
                    break
            if taken == len(rows) < LOG_ROWS_PER_CHUNK:
                finished.add(shard)
            if len(pairs) >= limit:
                break
        touched = await _fold_pairs(session, pairs) if pairs else set()
        if consumed:
            await session.execute(delete(DirtyMarks).where(DirtyMarks.id.in_(consumed)))
        return Folded(len(pairs), frozenset(touched)), finished, held


async def _fold_monitors(
    sessions: async_sessionmaker[AsyncSession], wanted: set[int], patience: float
) -> Folded:
    """A read's fold of its monitors' pairs, in one transaction, without consuming the
    log: it claims their shards (waiting up to ``patience`` for each one held by a
    folder, then leaving that shard's pairs to it)."""
    if not wanted:
        return Folded(0, frozenset())
    shards = sorted({shard_of(m) for m in wanted})
    async with sessions() as session:
        marks = await session.scalars(
            select(DirtyMarks.marks).where(DirtyMarks.shard.in_([0, *shards]))
        )
        pairs = {k: v for k, v in merge_marks(marks).items() if k[0] in wanted}
    if not pairs:
        return Folded(0, frozenset())
    deadline = time.monotonic() + patience
    busy = 0
    async with sessions() as session, session.begin():
        mine: dict[Pair, int] = {}
        for shard in sorted({shard_of(m) for m, _ in pairs}):
            of_shard = {k: v for k, v in pairs.items() if shard_of(k[0]) == shard}
            try:
                await _claim(session, (shard,), deadline=deadline)
            except Busy:
                busy += len(of_shard)
                continue
            mine |= of_shard
        services = await _fold_pairs(session, mine) if mine else set()
    return Folded(len(mine), frozenset(services), complete=not busy)


async def _claim(
    session: AsyncSession,
    shards: Iterable[int],
    *,
    wait: bool = False,
    deadline: float | None = None,
) -> None:
    """Take the shards' advisory locks on PostgreSQL (released at commit): waiting as
    long as it takes (``wait``), until ``deadline`` (polling, since an advisory lock
    wait cannot be bounded without aborting the transaction), or not at all; else
    ``Busy``. In shard order, so two folders that wait never wait on each other in a
    cycle. SQLite has one writer at a time and needs none."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for shard in sorted(shards):
        key = {"kind": SHARD_LOCK, "shard": shard}
        if wait:
            await session.execute(text("SELECT pg_advisory_xact_lock(:kind, :shard)"), key)
            continue
        try_lock = text("SELECT pg_try_advisory_xact_lock(:kind, :shard)")
        while not await session.scalar(try_lock, key):
            if deadline is None or time.monotonic() >= deadline:
                raise Busy(shard)
            await asyncio.sleep(0.02)


async def pending_marks(session: AsyncSession) -> bool:
    """Whether stored results are still waiting to be folded."""
    return await session.scalar(select(DirtyMarks.id).limit(1)) is not None


async def _fold_pairs(session: AsyncSession, pairs: dict[Pair, int]) -> set[int]:
    """Fold the pairs of new results (their shards claimed), then reconcile the state
    changes of what moved and note closed months that late results reached."""
    changed = await refold(session, pairs)
    services = await record_changes(session, changed)
    # Arrivals count too where a monitor's confirmations changed since a close: a late
    # failure that is a blip today may have counted under the frozen setting.
    arrived: dict[int, int] = {}
    for (monitor_id, _), dirty_from in pairs.items():
        arrived[monitor_id] = min(dirty_from, arrived.get(monitor_id, dirty_from))
    await note_late_data(session, changed, int(time.time()), arrived)
    return services


async def refold_monitor(session: AsyncSession, monitor_id: int) -> None:
    """Re-fold a monitor's whole history now, in the caller's transaction (its
    confirmations changed). Not through the dirty log: that log carries new results
    only, and closed months tell late data from catalog edits by it."""
    locations = list(
        await session.scalars(
            select(CheckResult.location).where(CheckResult.monitor_id == monitor_id).distinct()
        )
    )
    await _claim(session, (shard_of(monitor_id),), wait=True)
    changed = await refold(session, {(monitor_id, location): 0 for location in locations})
    await record_changes(session, changed)


async def run_folder(
    sessions: async_sessionmaker[AsyncSession],
    every: float,
    stop: asyncio.Event,
    on_folded: Callable[[Folded], None] | None = None,
) -> None:
    """The background folder: fold whatever the log marks, every ``every`` seconds,
    until ``stop`` is set. It stops between chunks, never inside a database call, so
    a stop waits for one chunk at most whatever the backlog. ``on_folded`` hears of
    each pass that changed something (e.g. to refresh a cache)."""
    while not stop.is_set():
        try:
            folded = await fold_pending(sessions, stop=stop)
            if folded.pairs:
                log.debug("folded %d monitor locations", folded.pairs)
            if folded.services and on_folded is not None:
                on_folded(folded)
        except Exception as exc:  # keep folding later; a report folds what it needs itself
            if not unreachable(exc):  # an outage is logged once (app.availability)
                log.exception("folding failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
