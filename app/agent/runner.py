"""The agent's loops: poll the assignment into the check scheduler, write results to
the disk buffer once a tick (app.agent.sink), send the buffer to the server, and
``run_agent`` (the ``uptally agent`` process, with its signal handling and its
optional metrics listener).

Nothing here blocks the event loop for long: the disk buffer is used from a worker
thread, and a large assignment (100,000 monitors) is read in slices of ``SLICE``
monitors with the loop free in between (the scheduler adds their jobs in slices too),
so checks due meanwhile still start on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from app.agent.buffer import DiskBuffer
from app.agent.client import AssignmentRefused, ServerClient, refused_rows
from app.agent.metrics import AgentMetrics, Readings
from app.agent.sink import TickWriter
from app.agent.state import AgentSetupError
from app.loop import in_turns
from app.monitoring.checks import MonitorSpec
from app.monitoring.scheduler import CheckScheduler
from probes.guard import AddressPolicy
from probes.registry import ProbeContext

log = logging.getLogger("uptally.agent")

BATCH = 1000
SLICE = 500  # assignment items read between two yields to the loop


class Agent:
    """One location's prober: checks run by a ``CheckScheduler`` into the disk buffer,
    which is sent every ``send_every`` seconds; the assignment is polled every
    ``poll_every`` seconds. ``stop`` ends the loops."""

    def __init__(
        self,
        server: str,
        token: str,
        location: str,
        buffer: DiskBuffer,
        probes: ProbeContext,
        poll_every: float = 30.0,
        send_every: float = 2.0,
        shard: tuple[int, int] = (0, 1),
        spread: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        tick: float = 0.5,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.client = ServerClient(server, token, transport)
        self.location = location
        self.buffer = buffer
        self.poll_every = poll_every
        self.send_every = send_every
        self.shard = shard
        self.metrics = metrics or AgentMetrics(location)
        self.writer = TickWriter(buffer, tick)
        self.scheduler = CheckScheduler(
            location, probes, self.writer.add, spread=spread, observe_lag=self.metrics.lag.observe
        )
        self.metrics.read(
            Readings(
                stats=lambda: dict(self.scheduler.stats),
                pending=lambda: self.buffer.pending + self.writer.held,
                assigned=lambda: len(self.scheduler.specs),
            )
        )
        self.etag: str | None = None
        self.stop = asyncio.Event()

    async def run(self) -> None:
        # Started first, so that the saved assignment's jobs go to a running scheduler:
        # added in slices, their first runs spread from now, none already past.
        self.scheduler.start()
        try:
            cached = await asyncio.to_thread(self.buffer.load, "assignment")
            if cached is not None:
                log.info("probing %d monitors from the saved assignment", len(cached))
                await self._assign(cached)
            await asyncio.gather(self._poll_loop(), self._send_loop(), self.writer.run(self.stop))
        finally:
            self.scheduler.shutdown()
            await self.scheduler.drain(timeout=10)
            try:
                await self.writer.flush()  # what the last tick held: on disk before leaving
            except Exception as exc:
                log.error("%d results not written to the buffer: %s", self.writer.held, exc)
            await self.send_pending()  # a last attempt before leaving
            await self.client.aclose()

    async def _assign(self, items: list[dict[str, Any]]) -> int:
        """Make the scheduler's jobs match ``items`` (this agent's shard of them). The
        items are read a slice at a time with the loop free in between (100,000 specs
        take seconds to build); the scheduler adds the jobs in slices of its own.
        Returns how many monitors this agent probes now."""
        index, count = self.shard
        wanted: dict[int, MonitorSpec] = {}
        async for item in in_turns(items, SLICE):
            spec = MonitorSpec.from_api(item)
            # The server filters by shard too; this stays as the safety net (a server
            # older than the shard parameter sends everything).
            if spec.kind != "heartbeat" and spec.id % count == index:
                wanted[spec.id] = spec
        self.scheduler.apply(wanted)
        return len(wanted)

    async def poll(self) -> bool:
        """Fetch the assignment; False if the server could not be asked."""
        try:
            fetched = await self.client.assignment(self.location, self.etag, self.shard)
        except httpx.HTTPError as exc:
            log.warning("server unreachable (%s); probing the last known monitors", exc)
            return False
        except AssignmentRefused as exc:
            log.error("assignment refused: %s", exc)
            return False
        self.metrics.last_poll.set(time.time())
        if fetched is None:
            return True  # unchanged
        items, self.etag = fetched
        started = time.perf_counter()
        await asyncio.to_thread(self.buffer.save, "assignment", items)
        assigned = await self._assign(items)
        log.info("assigned %d monitors (read in %.2f s)", assigned, time.perf_counter() - started)
        return True

    async def send_pending(self) -> int:
        """Send buffered results in order until none are left or the server fails."""
        sent = 0
        while batch := await asyncio.to_thread(self.buffer.oldest, BATCH):
            try:
                response = await self.client.push([row for _, row in batch])
            except httpx.HTTPError as exc:
                log.warning("cannot send %d results yet: %s", self.buffer.pending, exc)
                return sent
            if response.status_code == 202:
                await asyncio.to_thread(self.buffer.remove, [seq for seq, _ in batch])
                self.metrics.last_send.set(time.time())
                sent += len(batch)
            elif response.status_code == 422:
                # Rows the server will never take (e.g. their monitor was deleted): the
                # 422 names every one of them (up to 1,000), so drop them all at once
                # and send the rest again with the rows behind them.
                try:
                    bad = refused_rows(response.json(), len(batch))
                except ValueError:  # not JSON
                    bad = []
                if not bad:
                    log.error("batch refused: %s", response.text[:500])
                    return sent
                log.warning(
                    "dropping %d result(s) the server refuses, e.g. %s",
                    len(bad),
                    response.text[:300],
                )
                await asyncio.to_thread(self.buffer.remove, [batch[index][0] for index in bad])
            else:
                log.warning("server answered %s; will retry", response.status_code)
                return sent
        return sent

    async def _poll_loop(self) -> None:
        while not self.stop.is_set():
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.poll_every)

    async def _send_loop(self) -> None:
        while not self.stop.is_set():
            await self.send_pending()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.send_every)


def run_agent(
    server: str,
    token: str,
    location: str,
    buffer_path: Path,
    policy: AddressPolicy,
    poll_every: float,
    shard: tuple[int, int],
    spread: float | None,
    metrics_listen: tuple[str, int] | None = None,
) -> None:
    async def main() -> None:
        buffer = DiskBuffer(buffer_path)
        probes = ProbeContext(policy=policy)
        agent = Agent(
            server,
            token,
            location,
            buffer,
            probes,
            poll_every=poll_every,
            shard=shard,
            spread=spread,
        )
        stop_metrics = None
        if metrics_listen is not None:
            try:
                stop_metrics = agent.metrics.serve(*metrics_listen)
            except OSError as exc:
                await probes.aclose()
                buffer.close()
                raise AgentSetupError(
                    f"--metrics-listen {metrics_listen[0]}:{metrics_listen[1]}: {exc.strerror}"
                ) from None
            log.info("metrics on http://%s:%d/metrics", *metrics_listen)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, agent.stop.set)
        log.info(
            "agent for location %r, buffer %s (%d results waiting)",
            location,
            buffer_path,
            buffer.pending,
        )
        try:
            await agent.run()
        finally:
            await probes.aclose()
            buffer.close()
            if stop_metrics is not None:
                stop_metrics()

    asyncio.run(main())
