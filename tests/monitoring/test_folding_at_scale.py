"""Folding at scale (issue 13): a bounded number of locks whatever the number of
monitors, folders in several processes sharing the log without folding a pair twice
at once, a stop that waits for one chunk at most, and a buffer that writes in batches
under sustained load."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import app.monitoring.folding as folding
from app.db import make_engine, make_sessionmaker
from app.models import CheckResult, Customer, DirtyMarks, LocationSegment, Monitor, Service
from app.monitoring.buffer import ResultBuffer
from app.monitoring.checks import ResultIn
from app.monitoring.ingest import store_results
from app.monitoring.marks import SHARDS, shard_of
from app.sample import standard_policy
from app.sla.timeline import Observation, fold_location

START = 1_750_000_020  # a minute boundary in June 2025


async def seed(sessions: async_sessionmaker[AsyncSession], monitors: int) -> None:
    """``monitors`` HTTP monitors at 60 s, 100 to a service (ids 1..monitors)."""
    now = datetime.now(UTC)
    services = (monitors + 99) // 100
    async with sessions() as session, session.begin():
        policy = standard_policy(now, "scale")
        session.add(policy)
        await session.flush()
        await session.execute(
            insert(Customer),
            [{"slug": "c", "name": "C", "timezone": "UTC", "created_at": now}],
        )
        await session.execute(
            insert(Service),
            [
                {
                    "customer_id": 1,
                    "policy_id": policy.id,
                    "name": f"s{i}",
                    "slug": f"s{i}",
                    "monthly_fee": Decimal("100.00"),
                    "currency": "USD",
                    "starts_at": datetime(2020, 1, 1, tzinfo=UTC),
                    "ends_at": None,
                    "created_at": now,
                }
                for i in range(services)
            ],
        )
        await session.execute(
            insert(Monitor),
            [
                {
                    "service_id": 1 + i // 100,
                    "name": f"m{i}",
                    "kind": "http",
                    "target": f"https://m{i}.example/",
                    "interval_seconds": 60,
                    "timeout_seconds": 10,
                    "locations": ["local"],
                    "quorum": 1,
                    "failure_confirmations": 1,
                    "options": {},
                    "enabled": True,
                    "heartbeat_token": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(monitors)
            ],
        )


def minute(monitors: int, n: int) -> list[ResultIn]:
    """Every monitor's n-th result (all up), a minute apart."""
    return [
        ResultIn(
            monitor_id=m,
            location="local",
            checked_at=START + 60 * n,
            ok=True,
            interval_seconds=60,
        )
        for m in range(1, monitors + 1)
    ]


async def store(sessions: async_sessionmaker[AsyncSession], rows: list[ResultIn]) -> None:
    async with sessions() as session, session.begin():
        await store_results(session, rows, START + 3600, {})


async def segments(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                LocationSegment.monitor_id,
                LocationSegment.start,
                LocationSegment.end,
                LocationSegment.failing,
            ).order_by(LocationSegment.monitor_id, LocationSegment.start)
        )
        return [tuple(row) for row in rows]


async def log_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(DirtyMarks)) or 0


def postgresql_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("advisory locks and several folding processes are PostgreSQL's")


async def test_more_monitors_than_the_lock_table_holds_are_folded_in_one_pass(
    sessions: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    """One lock per monitor in one transaction overflowed PostgreSQL's shared lock table
    ("out of shared memory"; ~12,000 monitors at the default settings). The table holds
    max_locks_per_transaction x (every backend and prepared transaction the server may
    have) locks, plus some slack in shared memory: twice that many monitors overflows it
    for sure."""
    postgresql_only(db_url)
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT name, setting FROM pg_settings WHERE name IN ("
                "'max_locks_per_transaction', 'max_connections', 'autovacuum_max_workers', "
                "'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions')"
            )
        )
        settings = {name: int(value) for name, value in rows}
    per_transaction = settings.pop("max_locks_per_transaction")
    monitors = 2 * per_transaction * (sum(settings.values()) + 1)
    await seed(sessions, monitors)
    await store(sessions, minute(monitors, 0))  # one batch: every monitor dirty at once

    folded = await folding.fold_pending(sessions)

    assert folded.complete and folded.pairs == monitors
    assert await log_rows(sessions) == 0
    stored = await segments(sessions)
    assert stored == [(m, START, START + 120, False) for m in range(1, monitors + 1)]


async def test_a_huge_batch_is_folded_a_chunk_at_a_time_and_nothing_is_lost(
    sessions: async_sessionmaker[AsyncSession], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log row naming more pairs than a chunk keeps the rest for the next chunk."""
    monkeypatch.setattr(folding, "CHUNK_PAIRS", {"postgresql": 7, "sqlite": 7})
    await seed(sessions, 200)
    await store(sessions, minute(200, 0))
    sizes: list[int] = []
    original = folding._fold_pairs

    async def counted(session: AsyncSession, pairs: dict[Any, int]) -> set[int]:
        sizes.append(len(pairs))
        return await original(session, pairs)

    monkeypatch.setattr(folding, "_fold_pairs", counted)
    folded = await folding.fold_pending(sessions)
    assert folded.complete and folded.pairs == 200
    assert max(sizes) == 7 and sum(sizes) == 200
    assert await segments(sessions) == [(m, START, START + 120, False) for m in range(1, 201)]


async def test_a_stopped_folder_stops_after_the_chunk_in_hand_whatever_the_backlog(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folding, "CHUNK_PAIRS", {"postgresql": 50, "sqlite": 50})
    await seed(sessions, 1000)
    for n in range(3):
        await store(sessions, minute(1000, n))
    backlog = await log_rows(sessions)
    stop = asyncio.Event()
    chunks = 0
    original = folding._fold_pairs

    async def stop_during_the_first(session: AsyncSession, pairs: dict[Any, int]) -> set[int]:
        nonlocal chunks
        chunks += 1
        stop.set()  # a SIGTERM while the folder is inside its first chunk
        return await original(session, pairs)

    monkeypatch.setattr(folding, "_fold_pairs", stop_during_the_first)
    await asyncio.wait_for(folding.run_folder(sessions, 3600, stop), timeout=60)
    assert chunks == 1
    assert 0 < await log_rows(sessions) <= backlog  # the rest waits for the next start


async def test_folders_in_two_processes_share_the_log_and_fold_each_pair_once(
    sessions: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    postgresql_only(db_url)
    monitors = 600
    await seed(sessions, monitors)
    engines = [make_engine(db_url) for _ in range(2)]
    try:
        processes = [make_sessionmaker(engine) for engine in engines]
        for n in range(4):
            await store(sessions, minute(monitors, n))
            stops = [asyncio.Event(), asyncio.Event()]
            done = await asyncio.gather(
                *(folding.fold_pending(p, stop=s) for p, s in zip(processes, stops, strict=True))
            )
            # Between them they folded every pair (a shard one held is the other's).
            assert sum(d.pairs for d in done) >= monitors
            await folding.fold_pending(sessions)  # whatever one left to the other
        assert await log_rows(sessions) == 0
        # No pair folded by two at once: one segment each, no duplicates.
        assert await segments(sessions) == [
            (m, START, START + 3 * 60 + 120, False) for m in range(1, monitors + 1)
        ]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_folder_leaves_a_shard_another_process_holds_to_it(
    sessions: async_sessionmaker[AsyncSession], db_url: str
) -> None:
    postgresql_only(db_url)
    await seed(sessions, 3 * SHARDS)
    await store(sessions, minute(3 * SHARDS, 0))
    other = make_engine(db_url)
    held = shard_of(1)
    try:
        async with other.connect() as conn, conn.begin():
            lock = text("SELECT pg_advisory_xact_lock(:kind, :shard)")
            await conn.execute(lock, {"kind": folding.SHARD_LOCK, "shard": held})
            folded = await folding.fold_pending(sessions, stop=asyncio.Event())
            assert not folded.complete
            assert folded.pairs == 3 * SHARDS - 3  # all but the held shard's 3 monitors
            async with sessions() as session:
                left = set(await session.scalars(select(DirtyMarks.shard)))
            assert left == {held}
        folded = await folding.fold_pending(sessions, stop=asyncio.Event())
        assert folded.complete and folded.pairs == 3
    finally:
        await other.dispose()


async def test_under_sustained_load_the_buffer_writes_what_is_due_in_one_batch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Rows arriving while a batch is written wait for the next flush, instead of
    being written at once in a stream of small batches."""
    await seed(sessions, 400)
    batches: list[int] = []
    arriving = iter(minute(400, 1))

    def written(batch: Any, seconds: float) -> None:
        batches.append(len(batch))
        for _ in range(30):  # checks that finished while this batch was written
            buffer.add(next(arriving))

    buffer = ResultBuffer(sessions, max_batch=1000, on_written=written)
    for row in minute(400, 0):
        buffer.add(row)
    assert await buffer.flush() == 400
    assert batches == [400]
    assert len(buffer.pending) == 30  # for the next flush (a tick, or a full batch)
    assert await buffer.flush() == 30
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CheckResult)) == 430


async def test_many_pairs_folded_together_from_shuffled_batches_match_a_fold_from_scratch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The set-based fold of a chunk (restart points, floors of none, the segments
    reaching each restart) agrees with folding each pair's whole history at once,
    whatever order the results arrive in and however the pairs share a chunk."""
    monitors, rng = 30, random.Random(13)
    await seed(sessions, monitors)
    async with sessions() as session, session.begin():
        await session.execute(update(Monitor).values(locations=["local", "fra"]))
        for m in range(1, monitors + 1):
            await session.execute(
                update(Monitor).where(Monitor.id == m).values(failure_confirmations=1 + m % 3)
            )
    rows = [
        ResultIn(
            monitor_id=m,
            location=location,
            checked_at=START + 60 * n + rng.choice([0, 0, 0, 200]),  # some gaps
            ok=rng.random() > 0.3,
            interval_seconds=60,
        )
        for m in range(1, monitors + 1)
        for location in ("local", "fra")
        for n in range(40)
    ]
    rng.shuffle(rows)
    for start in range(0, len(rows), 150):
        await store(sessions, rows[start : start + 150])
        await folding.fold_pending(sessions)
    expected = []
    for m in range(1, monitors + 1):
        for location in ("fra", "local"):
            mine = [
                Observation(r.checked_at, r.ok, 60)
                for r in rows
                if (r.monitor_id, r.location) == (m, location)
            ]
            for s in fold_location(mine, 1 + m % 3):
                expected.append((m, location, s.start, s.end, s.failing))
    async with sessions() as session:
        stored = [
            tuple(row)
            for row in await session.execute(
                select(
                    LocationSegment.monitor_id,
                    LocationSegment.location,
                    LocationSegment.start,
                    LocationSegment.end,
                    LocationSegment.failing,
                ).order_by(
                    LocationSegment.monitor_id, LocationSegment.location, LocationSegment.start
                )
            )
        ]
    assert stored == expected
