"""Where the agent's check results go first: memory, then the disk buffer once a tick.

A result used to be committed (with an fsync) on the event loop as each check
finished: at hundreds of checks a second the loop spent its time waiting on the disk.
Now the scheduler's sink only appends to a list, and every ``every`` seconds (0.5 by
default), and once more on a clean stop, the list is written to the disk buffer in one
transaction in a worker thread.

What a crash can lose: the results of the last tick at most (those still in memory
when the process dies, 0.5 s of checks by default). Everything written before is on
disk (committed, fsynced) and is sent after a restart. A clean stop (SIGTERM, SIGINT)
writes what it holds before leaving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.agent.buffer import DiskBuffer
from app.monitoring.checks import ResultIn

log = logging.getLogger("uptally.agent")

TICK = 0.5


class TickWriter:
    """Collects results in memory and writes them to ``buffer`` once per tick."""

    def __init__(self, buffer: DiskBuffer, every: float = TICK) -> None:
        self.buffer = buffer
        self.every = every
        self.rows: list[ResultIn] = []

    def add(self, row: ResultIn) -> None:
        """The scheduler's sink: no I/O, safe to call on the event loop per check."""
        self.rows.append(row)

    @property
    def held(self) -> int:
        """Results in memory, not written yet."""
        return len(self.rows)

    async def flush(self) -> int:
        """Write what is held in one transaction (off the loop); how many rows. Rows
        that could not be written (a full disk) are kept for the next tick."""
        rows, self.rows = self.rows, []
        if not rows:
            return 0
        try:
            await asyncio.to_thread(self.buffer.add_many, rows)
        except Exception:
            self.rows[:0] = rows  # in front of what came meanwhile: order kept
            raise
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every tick until ``stop`` is set (the runner flushes once more after the
        scheduler has drained)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
            try:
                await self.flush()
            except Exception as exc:  # the disk: keep probing, try again next tick
                log.error("cannot write %d results to the buffer: %s", self.held, exc)
