"""Raw result retention: check results older than ``UPTALLY_RESULT_RETENTION_DAYS``
are deleted in the background, in small batches; the timeline they were folded into,
the state changes, statements and incidents are kept for good.

What may go, per (monitor, location): results checked before its *anchor*, the last
success at or before the cutoff (now minus the retention), and received more than the
retention ago (history imported today is folded before it can go, and kept for the
same time as the rest). The anchor itself stays, and is recorded as the pair's floor
(``ResultFloor``): a re-fold, which starts at a success (app.monitoring.folding),
never starts before it, so a late result or a changed ``failure_confirmations`` can
never re-fold a span whose results are gone; the timeline before the floor is final.
A pair with no success before the cutoff (failing for longer than the retention)
keeps its results until it has one.

Deleting goes along the primary key (monitor, location, checked_at): no index on the
instant alone, which would cost every stored result bytes and every insert time. The
pairs are walked monitor by monitor (each monitor's locations found by index seeks),
and each transaction deletes at most ``batch`` rows and is followed by a pause as long
as it took, so ingestion (on SQLite, which has one writer at a time) waits for a batch
at most, never for a pass, and pruning holds the database at most half the time. On PostgreSQL a
pass is one process's at a time (an advisory lock); another finds it taken and skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.availability import unreachable
from app.models import CheckResult, Monitor, ResultFloor
from app.monitoring.ingest import upsert_for

log = logging.getLogger(__name__)

DAY = 86_400
PAIRS_PER_TRANSACTION = 200  # a transaction also ends after this many pairs
PAUSE_SECONDS = 0.02  # between transactions at least: other writers get their turn
FIRST_PASS_AFTER = 600.0  # seconds after start
LOCK_KEY = 0x75707461_6C6C79  # "uptally": the pass's advisory lock on PostgreSQL


def cutoff(now: int, days: int) -> int:
    """Results checked before the anchor at or before this instant may go."""
    return now - days * DAY


@dataclass(frozen=True, slots=True)
class Pruned:
    rows: int  # results deleted
    pairs: int  # (monitor, location) pairs that lost some
    transactions: int
    skipped: bool = False  # another process was pruning (PostgreSQL)


async def locations_of(session: AsyncSession, monitor_id: int) -> list[str]:
    """The locations a monitor has results from: one index seek each (a loose scan of
    the primary key), not a scan of its results."""
    found: list[str] = []
    while True:
        query = select(func.min(CheckResult.location)).where(CheckResult.monitor_id == monitor_id)
        if found:
            query = query.where(CheckResult.location > found[-1])
        location = await session.scalar(query)
        if location is None:
            return found
        found.append(location)


async def prune_pair(
    session: AsyncSession,
    monitor_id: int,
    location: str,
    before: int,
    received_before: int,
    limit: int,
) -> int:
    """Delete up to ``limit`` of the pair's oldest results that may go (see the module
    docstring), in the caller's transaction, and move its floor up to the anchor.
    Returns the rows deleted."""
    pair = (CheckResult.monitor_id == monitor_id, CheckResult.location == location)
    anchor = await session.scalar(
        select(func.max(CheckResult.checked_at)).where(
            *pair, CheckResult.ok.is_(True), CheckResult.checked_at <= before
        )
    )
    if anchor is None:
        return 0
    # The limit-th oldest result before the anchor: delete up to it (or the anchor).
    upto = await session.scalar(
        select(CheckResult.checked_at)
        .where(*pair, CheckResult.checked_at < anchor)
        .order_by(CheckResult.checked_at)
        .offset(limit - 1)
        .limit(1)
    )
    result = await session.execute(
        delete(CheckResult)
        .where(
            *pair,
            CheckResult.checked_at <= (upto if upto is not None else anchor - 1),
            CheckResult.received_at < received_before,
        )
        .execution_options(synchronize_session=False)
    )
    deleted = int(result.rowcount)  # type: ignore[attr-defined]
    if deleted:
        insert = upsert_for(session)(ResultFloor).values(
            monitor_id=monitor_id, location=location, before=anchor
        )
        # The floor only moves up (SQLite's two-argument max is PostgreSQL's greatest).
        higher = "max" if session.get_bind().dialect.name == "sqlite" else "greatest"
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=["monitor_id", "location"],
                set_={"before": getattr(func, higher)(insert.excluded.before, ResultFloor.before)},
            )
        )
    return deleted


@contextlib.asynccontextmanager
async def pass_lock(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[bool]:
    """Whether this process may prune now: on PostgreSQL a session-level advisory lock,
    held on a connection of its own for the whole pass (another process pruning holds
    it, and this one skips its pass); SQLite has one writer anyway."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
        yield True
        return
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        lock = text("SELECT pg_try_advisory_lock(:key)")
        got = bool(await connection.scalar(lock, {"key": LOCK_KEY}))
        try:
            yield got
        finally:
            if got:
                unlock = text("SELECT pg_advisory_unlock(:key)")
                await connection.scalar(unlock, {"key": LOCK_KEY})


async def prune_once(
    sessions: async_sessionmaker[AsyncSession],
    now: int,
    days: int,
    batch: int = 1000,
    pause: float = PAUSE_SECONDS,
    stop: asyncio.Event | None = None,
) -> Pruned:
    """One pass over every monitor's results: delete what ``days`` of retention lets
    go, at most ``batch`` rows per transaction. Stops early when ``stop`` is set."""
    before, received_before = cutoff(now, days), now - days * DAY
    async with sessions() as session:
        monitor_ids = list(await session.scalars(select(Monitor.id).order_by(Monitor.id)))
    rows = transactions = 0
    pairs: set[tuple[int, str]] = set()
    pending = deque(monitor_ids)
    work: deque[tuple[int, str]] = deque()  # the current monitor's pairs
    async with pass_lock(sessions) as mine:
        if not mine:
            return Pruned(0, 0, 0, skipped=True)
        while pending or work:
            if stop is not None and stop.is_set():
                break
            started = time.monotonic()
            async with sessions() as session, session.begin():
                transactions += 1
                deleted = visited = 0
                while (pending or work) and deleted < batch and visited < PAIRS_PER_TRANSACTION:
                    visited += 1
                    if not work:
                        monitor_id = pending.popleft()
                        work.extend(
                            (monitor_id, loc) for loc in await locations_of(session, monitor_id)
                        )
                        continue
                    monitor_id, location = work[0]
                    limit = batch - deleted
                    count = await prune_pair(
                        session, monitor_id, location, before, received_before, limit
                    )
                    deleted += count
                    if count:
                        pairs.add((monitor_id, location))
                    if count < limit:  # nothing more to give now (else: on in the next one)
                        work.popleft()
                rows += deleted
            if pause:
                # As long as the transaction took (at least ``pause``): pruning holds the
                # database (SQLite's one writer) at most half the time, whatever its speed.
                await asyncio.sleep(max(pause, time.monotonic() - started))
    return Pruned(rows, len(pairs), transactions)


async def run_retention(
    sessions: async_sessionmaker[AsyncSession],
    days: int,
    every: float,
    batch: int,
    stop: asyncio.Event,
    clock: Callable[[], float] = time.time,
) -> None:
    """Prune every ``every`` seconds until ``stop``; does nothing when ``days`` is 0.
    The first pass waits ``FIRST_PASS_AFTER`` (or ``every``, if shorter): a start is
    the busiest time (every job added, every cache filled), and a pass walks every
    monitor (two index seeks each: seconds of CPU at 100,000 monitors)."""
    if days <= 0:
        return
    wait = min(every, FIRST_PASS_AFTER)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        if stop.is_set():
            return
        wait = every
        started = time.monotonic()
        try:
            done = await prune_once(sessions, int(clock()), days, batch, stop=stop)
        except Exception as exc:
            if not unreachable(exc):  # an outage is logged once (app.availability)
                log.exception("pruning old results failed; will retry")
            continue
        if done.rows:
            log.info(
                "pruned %d results older than %d days (%d monitor locations, %d transactions) "
                "in %.1f s",
                done.rows,
                days,
                done.pairs,
                done.transactions,
                time.monotonic() - started,
            )
