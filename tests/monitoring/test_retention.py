"""Raw result retention on both databases: old results go in small batches, the
timeline they made stays exactly as it was, and nothing can re-fold a pruned span."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import CheckResult, LocationSegment, Monitor, ResultFloor
from app.monitoring.checks import ResultIn
from app.monitoring.folding import fold_pending, refold_monitor
from app.monitoring.ingest import store_results
from app.monitoring.retention import DAY, pass_lock, prune_once, run_retention
from tests.monitoring.test_state_changes import make_catalog

STEP = 3600  # one result an hour
START = 1_750_000_000 // DAY * DAY  # a midnight
NOW = START + 100 * DAY  # results span 100 days; 90 are kept


def hourly(
    monitor_id: int, location: str, days: int, fail: set[int] = frozenset()
) -> list[ResultIn]:  # type: ignore[assignment]
    """A result every hour for ``days`` days from START; the hours in ``fail`` fail."""
    return [
        ResultIn(
            monitor_id=monitor_id,
            location=location,
            checked_at=START + hour * STEP,
            ok=hour not in fail,
            interval_seconds=STEP,
        )
        for hour in range(days * 24)
    ]


async def store(
    sessions: async_sessionmaker[AsyncSession], rows: list[ResultIn], received: int
) -> None:
    async with sessions() as session, session.begin():
        await store_results(session, rows, received, {})
    await fold_pending(sessions)


async def results(sessions: async_sessionmaker[AsyncSession], monitor_id: int) -> list[int]:
    async with sessions() as session:
        query = select(CheckResult.checked_at).where(CheckResult.monitor_id == monitor_id)
        return sorted(await session.scalars(query))


async def segments(
    sessions: async_sessionmaker[AsyncSession], monitor_id: int
) -> list[tuple[str, int, int, bool]]:
    async with sessions() as session:
        rows = await session.scalars(
            select(LocationSegment).where(LocationSegment.monitor_id == monitor_id)
        )
        return sorted((s.location, s.start, s.end, s.failing) for s in rows)


async def floors(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[int, str], int]:
    async with sessions() as session:
        rows = await session.scalars(select(ResultFloor))
        return {(f.monitor_id, f.location): f.before for f in rows}


async def test_old_results_go_in_batches_and_the_timeline_stays(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    single, multi = ids["single"], ids["multi"]
    outage = {5 * 24 + h for h in range(3)}  # three failed hours on day 5 (confirmed)
    await store(sessions, hourly(single, "a", 100, outage), received=START)
    await store(sessions, hourly(multi, "a", 100) + hourly(multi, "b", 100), received=START)
    timeline = {m: await segments(sessions, m) for m in (single, multi)}

    done = await prune_once(sessions, NOW, days=90, batch=100, pause=0)
    cut = NOW - 90 * DAY
    # Everything checked before the last success at or before the cutoff went; that
    # success (the anchor) stayed and is each pair's floor.
    assert await results(sessions, single) == list(range(cut, START + 100 * DAY, STEP))
    assert done.rows == 3 * 10 * 24 and done.pairs == 3
    assert done.transactions >= 3 * 10 * 24 // 100  # at most 100 rows per transaction
    assert await floors(sessions) == {(single, "a"): cut, (multi, "a"): cut, (multi, "b"): cut}
    for monitor_id, before in timeline.items():
        assert await segments(sessions, monitor_id) == before  # the timeline is intact
    assert (await prune_once(sessions, NOW, days=90, batch=100, pause=0)).rows == 0

    # A late result from before the floor, and a changed confirmation count, re-fold
    # from the floor only: the outage on day 5 (its results gone) stays as folded.
    late = ResultIn(
        monitor_id=single, location="a", checked_at=START + 5, ok=False, interval_seconds=STEP
    )
    await store(sessions, [late], received=NOW)
    assert await segments(sessions, single) == timeline[single]
    async with sessions() as session, session.begin():
        monitor = await session.get(Monitor, single)
        assert monitor is not None
        monitor.failure_confirmations = 5  # the 3-hour outage would be a blip now
        await session.flush()
        await refold_monitor(session, single)
    after = await segments(sessions, single)
    assert [s for s in after if s[2] <= cut] == [s for s in timeline[single] if s[2] <= cut]
    assert any(s[3] for s in after)  # the outage before the floor is still there


async def test_a_pair_failing_for_longer_than_the_retention_keeps_its_results(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    failing = set(range(100 * 24))  # never a success
    await store(sessions, hourly(ids["single"], "a", 100, failing), received=START)
    assert (await prune_once(sessions, NOW, days=90, pause=0)).rows == 0
    assert len(await results(sessions, ids["single"])) == 100 * 24
    assert await floors(sessions) == {}


async def test_history_imported_recently_is_kept_for_the_retention_too(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    await store(sessions, hourly(ids["single"], "a", 100), received=NOW - DAY)
    assert (await prune_once(sessions, NOW, days=90, pause=0)).rows == 0
    assert await floors(sessions) == {}
    # 90 days after it was received, it goes.
    assert (await prune_once(sessions, NOW + 90 * DAY, days=90, pause=0)).rows > 0


async def test_retention_is_at_least_a_week_or_off() -> None:
    with pytest.raises(ValidationError, match="at least 7 days"):
        Settings(result_retention_days=3)
    assert Settings(result_retention_days=0).result_retention_days == 0
    stop = asyncio.Event()
    # Off: the loop returns at once, without waiting for stop.
    await asyncio.wait_for(run_retention(None, 0, 3600, 5000, stop), 1)  # type: ignore[arg-type]


async def test_a_pass_stops_when_asked(sessions: async_sessionmaker[AsyncSession]) -> None:
    ids = await make_catalog(sessions)
    await store(sessions, hourly(ids["single"], "a", 100), received=START)
    stop = asyncio.Event()
    stop.set()
    assert (await prune_once(sessions, NOW, days=90, pause=0, stop=stop)).rows == 0
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CheckResult)) == 2400


async def test_one_process_prunes_at_a_time(sessions: async_sessionmaker[AsyncSession]) -> None:
    ids = await make_catalog(sessions)
    await store(sessions, hourly(ids["single"], "a", 100), received=START)
    postgresql = sessions.kw["bind"].dialect.name == "postgresql"
    async with pass_lock(sessions) as mine:  # as another process's pass would
        assert mine
        during = await prune_once(sessions, NOW, days=90, pause=0)
    # PostgreSQL: the pass found the lock taken and left the rows to its holder.
    assert (during.skipped, during.rows == 0) == (postgresql, postgresql)
    after = await prune_once(sessions, NOW, days=90, pause=0)
    assert after.rows == (240 if postgresql else 0) and not after.skipped
