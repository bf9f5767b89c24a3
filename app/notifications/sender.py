"""Sending through Apprise, and the delivery loop.

Apprise sends synchronously (``requests``), so each delivery runs in the sender's own
small thread pool, never in the event loop and never in the loop's default executor
(which resolves the probes' host names): a channel that hangs holds one of these
threads for at most ``notify_timeout_seconds``, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import apprise
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.availability import unreachable
from app.config import Settings
from app.db import transaction
from app.notifications.messages import INFO, TYPES
from app.notifications.outbox import FAILED, SENT, Due, Retry, claim, finish, prune
from app.telemetry.process import ProcessStats
from probes.result import clean_message

log = logging.getLogger(__name__)

THREADS = 4  # deliveries sent at once by one process
BATCH = 20  # deliveries claimed per pass
PRUNE_EVERY = 3600  # seconds between forgetting old messages


def _error_of(result: apprise.AppriseResult) -> str:
    """What went wrong, from Apprise's own log of the attempt (it masks secrets)."""
    lines = [
        entry.message
        for service in result
        for attempt in service.attempts
        for entry in attempt.logs
        if entry.level in ("WARNING", "ERROR", "CRITICAL")
    ]
    return clean_message("; ".join(lines) or f"Apprise: {result.status.name.lower()}") or ""


def send_now(url: str, title: str, body: str, notify_type: str, timeout: float) -> str | None:
    """Send one message to one Apprise URL, blocking; the error, or None when sent."""
    # In memory: Apprise may otherwise keep plugin state in files of its own.
    asset = apprise.AppriseAsset(storage_mode="memory")
    client = apprise.Apprise(asset=asset)
    if not client.add(url):
        return "Apprise cannot use this URL"
    try:
        result = client.notify(
            body=body, title=title, notify_type=apprise.NotifyType(notify_type), timeout=timeout
        )
    except Exception as exc:  # a plugin's own failure is a failed delivery, not a crash
        return clean_message(f"{type(exc).__name__}: {exc}") or "failed"
    return None if result else _error_of(result)


class Sender:
    """Sends in its own threads, each delivery bounded by ``timeout``."""

    def __init__(self, timeout: float, threads: int = THREADS) -> None:
        self.timeout = timeout
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="uptally-notify")

    async def send(self, url: str, title: str, body: str, notify_type: str) -> str | None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self.pool, send_now, url, title, body, notify_type, self.timeout
        )
        try:
            # Apprise honours its own deadline; this one is for a plugin that does not.
            return await asyncio.wait_for(future, self.timeout + 5)
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class DeliveryLoop:
    """Claims due deliveries, sends them, records the outcomes; until stopped."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        stats: ProcessStats,
        sender: Sender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.stats = stats
        self.sender = sender or Sender(settings.notify_timeout_seconds)
        self.clock = clock
        self.consumer = f"notifier-{uuid.uuid4().hex[:8]}"
        self.retry = Retry(
            settings.notify_retry_seconds,
            settings.notify_retry_max_seconds,
            settings.notify_max_attempts,
        )
        self._pruned_at = 0.0

    @property
    def lease(self) -> int:
        """Long enough for a whole batch to time out one after the other (one channel's
        messages go in turn), so no claim runs out while its delivery is being sent."""
        return int(self.settings.notify_timeout_seconds + 5) * BATCH + 30

    async def _attempt(self, due: Due) -> str | None:
        return await self.sender.send(due.url, due.title, due.body, TYPES.get(due.event, INFO))

    async def deliver_once(self) -> int:
        """One batch: returns how many deliveries were attempted."""
        async with transaction(self.sessions) as session:
            token, batch = await claim(session, self.consumer, int(self.clock()), BATCH, self.lease)
        if not batch:
            return 0
        # One channel's messages go one after the other, in order (a down before its
        # up); different channels at once.
        by_url: dict[str, list[Due]] = {}
        for due in batch:
            by_url.setdefault(due.url, []).append(due)

        async def in_turn(dues: list[Due]) -> list[tuple[Due, str | None]]:
            return [(due, await self._attempt(due)) for due in dues]

        outcomes = [
            outcome
            for group in await asyncio.gather(*(in_turn(g) for g in by_url.values()))
            for outcome in group
        ]
        now = int(self.clock())
        async with transaction(self.sessions) as session:
            for due, error in outcomes:
                status = await finish(session, token, due, error, now, self.retry)
                if error is None:
                    self.stats.delivered += 1
                else:
                    self.stats.attempts_failed += 1
                    log.warning("notification %d not delivered (%s): %s", due.id, status, error)
                if status == FAILED:
                    self.stats.given_up += 1
                elif status == SENT:
                    log.info("notification %d delivered", due.id)
        return len(batch)

    async def prune_if_due(self) -> None:
        now = self.clock()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        keep = timedelta(days=self.settings.notify_keep_days)
        before = int((datetime.fromtimestamp(now, UTC) - keep).timestamp())
        async with transaction(self.sessions) as session:
            await prune(session, before)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    while await self.deliver_once() and not stop.is_set():
                        pass
                    await self.prune_if_due()
                except Exception as exc:
                    if not unreachable(exc):  # an outage is logged once (app.availability)
                        log.exception("delivering notifications failed; will retry")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.notify_interval_seconds)
        finally:
            self.sender.close()
