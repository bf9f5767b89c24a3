"""The in-process result buffer: checks add results; a task writes them in batches
through the same ingestion as ``POST /api/v1/results``.

Results that cannot be written when the process stops (the database is down) are
spilled to a local spool file (the agent's ``DiskBuffer`` format), and the next start
writes them through the same ingestion before deleting the file."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.agent.buffer import DiskBuffer
from app.availability import DatabaseHealth, unreachable
from app.models import Monitor
from app.monitoring.checks import ResultIn
from app.monitoring.ingest import store_results
from app.sla.periods import to_epoch

log = logging.getLogger(__name__)


class ResultBuffer:
    """Holds results for up to ``flush_every`` seconds or ``max_batch`` rows, whichever
    comes first, and writes them in batches of up to ``max_batch``.

    If the database is unreachable, results wait (up to ``max_pending``, oldest
    dropped first and counted) and are written when it is back. With a ``spool``
    file, what is still waiting when ``run`` stops is kept there, and written (first)
    by the next flush of the next buffer with that spool.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        flush_every: float = 1.0,
        max_batch: int = 1000,
        max_pending: int = 100_000,
        database: DatabaseHealth | None = None,
        spool: Path | None = None,
        on_written: Callable[[Sequence[ResultIn], float], None] | None = None,
    ) -> None:
        """``on_written`` hears of every batch stored, with the seconds it took."""
        self.sessions = sessions
        self.on_written = on_written
        self.spool = spool
        self._spooled = spool is not None and spool.exists()  # left by an earlier run
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
        written = True
        while not stop.is_set():
            waiters = [asyncio.ensure_future(self._full.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(
                waiters, timeout=self.flush_every, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()
            self._full.clear()
            written = await self._try_flush()
        if written and self.pending:  # what came in during the last flush: write it too
            await self._try_flush()
        if self.pending and self.spool is not None:
            self.spill()

    async def _try_flush(self) -> bool:
        """A flush that logs (an outage once) instead of raising; whether it worked."""
        try:
            await self.flush()
        except Exception as exc:
            if not unreachable(exc):  # an outage is logged once, by DatabaseHealth
                log.exception("could not write %d results; will retry", len(self.pending))
            return False
        return True

    def spill(self) -> int:
        """Move everything pending to the spool file (on stop, when it could not be
        written): the next start writes it. Returns how many rows were spilled."""
        assert self.spool is not None
        rows = list(self.pending)
        disk = DiskBuffer(self.spool)
        try:
            disk.add_many(rows)
        finally:
            disk.close()
        self.pending.clear()
        self._spooled = True
        log.warning(
            "the database is unavailable: %d results kept in %s until the next start",
            len(rows),
            self.spool,
        )
        return len(rows)

    def _delete_spool(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.spool}{suffix}").unlink(missing_ok=True)

    async def _drain_spool(self) -> int:
        """Write what an earlier run spilled, batch by batch (each removed from the
        file once stored; storing is idempotent), then delete the file."""
        assert self.spool is not None
        disk = DiskBuffer(self.spool)
        written = 0
        try:
            while batch := disk.oldest(self.max_batch):
                try:
                    stored = await self._write([row for _, row in batch])
                except Exception as exc:
                    if not unreachable(exc):
                        # Not an outage: never let the file block fresh results. It
                        # stays, and the next start tries it again.
                        log.exception("could not write the results kept in %s", self.spool)
                        self._spooled = False
                        return written
                    self.database.failed(exc)
                    raise
                self.database.succeeded()
                disk.remove([seq for seq, _ in batch])
                written += stored
                self.written += stored
        finally:
            disk.close()
        self._delete_spool()
        self._spooled = False
        log.info("wrote %d results kept in %s by an earlier run", written, self.spool)
        return written

    async def flush(self) -> int:
        """Write everything pending when it is called; on failure the rows stay pending.
        Rows added meanwhile wait for the next flush (a tick or a full batch): draining
        them at once under sustained load wrote what arrived during the previous write,
        20-55 rows a batch, back to back, instead of a second's worth at a time."""
        async with self._lock:
            written = await self._drain_spool() if self._spooled else 0
            due = len(self.pending)
            while due > 0 and self.pending:
                size = min(self.max_batch, due, len(self.pending))
                due -= size
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
        started = time.perf_counter()
        # The scheduler sets every row's interval; no fallback that could hide a bug.
        intervals: dict[int, int] = {}
        try:
            async with self.sessions() as session, session.begin():
                stored = await store_results(session, batch, now, intervals)
        except IntegrityError:
            # A monitor was deleted between its check and this write: drop its rows.
            async with self.sessions() as session:
                alive = set(
                    await session.scalars(
                        select(Monitor.id).where(Monitor.id.in_({r.monitor_id for r in batch}))
                    )
                )
            batch = [r for r in batch if r.monitor_id in alive]
            async with self.sessions() as session, session.begin():
                stored = await store_results(session, batch, now, intervals)
        if self.on_written is not None and batch:
            self.on_written(batch, time.perf_counter() - started)
        return stored
