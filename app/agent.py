"""The remote probe agent (``uptally agent``): probes the monitors of one location and
pushes the results to the server.

- Assignments come from ``GET /api/v1/agent/monitors?location=`` (polled, with ETag)
  and are kept on disk, so a restarted agent probes on while the server is down.
- Every result is written to a local SQLite buffer before anything else, and sent in
  order by ``POST /api/v1/results``; a row leaves the buffer only once the server has
  accepted it. Delivery is at least once; the server stores a duplicate (same monitor,
  location and second) once, so nothing counts twice.
- Several agents may serve one location: give each ``--shard K/N`` to split the
  monitors between them (monitor id modulo N), or run them unsharded for redundancy
  (their results simply interleave).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from app.monitoring.ingest import ResultIn
from app.monitoring.scheduler import CheckScheduler, MonitorSpec
from app.sla.calendar import utc_text
from probes.guard import AddressPolicy
from probes.registry import ProbeContext

log = logging.getLogger("uptally.agent")

BATCH = 1000


class DiskBuffer:
    """Results waiting to be sent, and the last assignment, in one SQLite file.

    Calls are synchronous and short (one small transaction each): fine for a probe
    agent, and every result is on disk before the check is considered done.
    """

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, row TEXT)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT)")

    def add(self, row: ResultIn) -> None:
        self.db.execute("INSERT INTO pending (row) VALUES (?)", (json.dumps(asdict(row)),))

    def oldest(self, limit: int) -> list[tuple[int, ResultIn]]:
        rows = self.db.execute(
            "SELECT seq, row FROM pending ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(seq, ResultIn(**json.loads(text))) for seq, text in rows]

    def remove(self, seqs: list[int]) -> None:
        self.db.executemany("DELETE FROM pending WHERE seq = ?", [(s,) for s in seqs])

    def count(self) -> int:
        count: int = self.db.execute("SELECT count(*) FROM pending").fetchone()[0]
        return count

    def save(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def load(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        self.db.close()


class Agent:
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
        spread: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(
            base_url=server.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            transport=transport,
        )
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
        headers = {"If-None-Match": self.etag} if self.etag else {}
        try:
            response = await self.client.get(
                "/api/v1/agent/monitors", params={"location": self.location}, headers=headers
            )
        except httpx.HTTPError as exc:
            log.warning("server unreachable (%s); probing the last known monitors", exc)
            return False
        if response.status_code == 304:
            return True
        if response.status_code != 200:
            log.error("assignment refused: %s %s", response.status_code, response.text[:200])
            return False
        items = response.json()
        self.etag = response.headers.get("etag")
        self.buffer.save("assignment", items)
        self._assign(items)
        log.info("assigned %d monitors", len(self.scheduler.specs))
        return True

    async def send_pending(self) -> int:
        """Send buffered results in order until none are left or the server fails."""
        sent = 0
        while batch := self.buffer.oldest(BATCH):
            body = {
                "results": [
                    {
                        **{k: v for k, v in asdict(row).items() if v is not None},
                        "checked_at": utc_text(row.checked_at),
                    }
                    for _, row in batch
                ]
            }
            try:
                response = await self.client.post("/api/v1/results", json=body)
            except httpx.HTTPError as exc:
                log.warning("cannot send %d results yet: %s", self.buffer.count(), exc)
                return sent
            if response.status_code == 202:
                self.buffer.remove([seq for seq, _ in batch])
                sent += len(batch)
            elif response.status_code == 422:
                # A row the server will never take (e.g. its monitor was deleted):
                # drop that row, keep the rest.
                bad = _bad_row(response.json())
                if bad is None:
                    log.error("batch refused: %s", response.text[:500])
                    return sent
                log.warning("dropping a result the server refuses: %s", response.text[:300])
                self.buffer.remove([batch[bad][0]])
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


def _bad_row(body: Any) -> int | None:
    try:
        for error in body["detail"]:
            loc = error["loc"]
            if len(loc) >= 3 and loc[0] == "body" and loc[1] == "results":
                return int(loc[2])
    except (KeyError, TypeError, ValueError):
        return None
    return None


def run_agent(
    server: str,
    token: str,
    location: str,
    buffer_path: Path,
    policy: AddressPolicy,
    poll_every: float,
    shard: tuple[int, int],
    spread: float,
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
