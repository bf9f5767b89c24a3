"""The in-process result buffer: checks add results; a task writes them in batches
through the same ingestion as ``POST /api/v1/results``."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.availability import DatabaseHealth, unreachable
from app.models import Monitor
from app.monitoring.checks import ResultIn
from app.monitoring.ingest import store_results
from app.sla.periods import to_epoch

log = logging.getLogger(__name__)


class ResultBuffer:
    """Holds results for up to ``flush_every`` seconds or ``max_batch`` rows.

    If the database is unreachable, results wait (up to ``max_pending``, oldest
    dropped first and counted) and are written when it is back.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        flush_every: float = 1.0,
        max_batch: int = 1000,
        max_pending: int = 100_000,
        database: DatabaseHealth | None = None,
    ) -> None:
        self.sessions = sessions
        self.database = database or DatabaseHealth()
        self.flush_every = flush_every
        self.max_batch = max_batch
        self.pending: deque[ResultIn] = deque(maxlen=max_pending)
        self.dropped = 0
        self.written = 0
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()

    def add(self, row: ResultIn) -> None:
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
        self.pending.append(row)
        if len(self.pending) >= self.max_batch:
            self._full.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_every`` seconds (sooner when a batch is full) until
        ``stop`` is set, then once more."""
        while not stop.is_set():
            waiters = [asyncio.ensure_future(self._full.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(
                waiters, timeout=self.flush_every, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()
            self._full.clear()
            try:
                await self.flush()
            except Exception as exc:
                if not unreachable(exc):  # an outage is logged once, by DatabaseHealth
                    log.exception("could not write %d results; will retry", len(self.pending))

    async def flush(self) -> int:
        """Write everything pending; on failure the rows stay pending. Under sustained
        load this keeps draining, counting each batch as it is written."""
        async with self._lock:
            written = 0
            while self.pending:
                size = min(self.max_batch, len(self.pending))
                batch = [self.pending.popleft() for _ in range(size)]
                try:
                    stored = await self._write(batch)
                except Exception as exc:
                    self.pending.extendleft(reversed(batch))
                    if unreachable(exc):
                        self.database.failed(exc)
                    raise
                self.database.succeeded()
                written += stored
                self.written += stored
            return written

    async def _write(self, batch: list[ResultIn]) -> int:
        now = to_epoch(datetime.now(UTC))
        # The scheduler sets every row's interval; no fallback that could hide a bug.
        intervals: dict[int, int] = {}
        try:
            async with self.sessions() as session, session.begin():
                return await store_results(session, batch, now, intervals)
        except IntegrityError:
            # A monitor was deleted between its check and this write: drop its rows.
            async with self.sessions() as session:
                alive = set(
                    await session.scalars(
                        select(Monitor.id).where(Monitor.id.in_({r.monitor_id for r in batch}))
                    )
                )
            kept = [r for r in batch if r.monitor_id in alive]
            async with self.sessions() as session, session.begin():
                return await store_results(session, kept, now, intervals)
