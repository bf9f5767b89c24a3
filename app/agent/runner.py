"""The agent's loops: poll the assignment into the check scheduler, send the disk
buffer to the server, and ``run_agent`` (the ``uptally agent`` process, with its
signal handling)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

import httpx

from app.agent.buffer import DiskBuffer
from app.agent.client import AssignmentRefused, ServerClient, refused_rows
from app.monitoring.checks import MonitorSpec
from app.monitoring.scheduler import CheckScheduler
from probes.guard import AddressPolicy
from probes.registry import ProbeContext

log = logging.getLogger("uptally.agent")

BATCH = 1000


class Agent:
    """One location's prober: checks run by a ``CheckScheduler`` into the disk buffer,
    which is sent every ``send_every`` seconds; the assignment is polled every
    ``poll_every`` seconds. ``stop`` ends both loops."""

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
    ) -> None:
        self.client = ServerClient(server, token, transport)
        self.location = location
        self.buffer = buffer
        self.poll_every = poll_every
        self.send_every = send_every
        self.shard = shard
        self.scheduler = CheckScheduler(location, probes, buffer.add, spread=spread)
        self.etag: str | None = None
        self.stop = asyncio.Event()

    async def run(self) -> None:
        cached = self.buffer.load("assignment")
        if cached is not None:
            log.info("probing %d monitors from the saved assignment", len(cached))
            self._assign(cached)
        self.scheduler.start()
        try:
            await asyncio.gather(self._poll_loop(), self._send_loop())
        finally:
            self.scheduler.shutdown()
            await self.scheduler.drain(timeout=10)
            await self.send_pending()  # a last attempt before leaving
            await self.client.aclose()

    def _assign(self, items: list[dict[str, Any]]) -> None:
        index, count = self.shard
        self.scheduler.apply(
            {
                spec.id: spec
                for spec in (MonitorSpec.from_api(item) for item in items)
                if spec.kind != "heartbeat" and spec.id % count == index
            }
        )

    async def poll(self) -> bool:
        """Fetch the assignment; False if the server could not be asked."""
        try:
            fetched = await self.client.assignment(self.location, self.etag)
        except httpx.HTTPError as exc:
            log.warning("server unreachable (%s); probing the last known monitors", exc)
            return False
        except AssignmentRefused as exc:
            log.error("assignment refused: %s", exc)
            return False
        if fetched is None:
            return True  # unchanged
        items, self.etag = fetched
        self.buffer.save("assignment", items)
        self._assign(items)
        log.info("assigned %d monitors", len(self.scheduler.specs))
        return True

    async def send_pending(self) -> int:
        """Send buffered results in order until none are left or the server fails."""
        sent = 0
        while batch := self.buffer.oldest(BATCH):
            try:
                response = await self.client.push([row for _, row in batch])
            except httpx.HTTPError as exc:
                log.warning("cannot send %d results yet: %s", self.buffer.count(), exc)
                return sent
            if response.status_code == 202:
                self.buffer.remove([seq for seq, _ in batch])
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
                self.buffer.remove([batch[index][0] for index in bad])
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
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, agent.stop.set)
        log.info(
            "agent for location %r, buffer %s (%d results waiting)",
            location,
            buffer_path,
            buffer.count(),
        )
        try:
            await agent.run()
        finally:
            await probes.aclose()
            buffer.close()

    asyncio.run(main())
