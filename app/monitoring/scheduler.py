"""The in-process scheduler: one APScheduler job per monitor probed from this location.

Jobs start spread over their interval (so 1,000 monitors at 60 s do not all fire at
once), never overlap themselves (``max_instances=1``; a run that would is skipped and
counted as shed, evenly across monitors), and run under a global concurrency bound
with a per-check timeout. APScheduler's default ``misfire_grace_time`` of 1 s silently
drops runs under load; here a run may start up to a whole interval late.

Heartbeat monitors have no probe: ``POST /heartbeat/{token}`` records an ``ok``, and a
watchdog job records a failure when a ping is overdue past interval plus grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import CheckResult, Monitor
from app.monitoring.buffer import ResultBuffer
from app.monitoring.ingest import ResultIn
from app.sla.calendar import to_epoch
from probes.registry import ProbeContext, run_probe

log = logging.getLogger(__name__)

DEFAULT_GRACE = 60  # seconds a heartbeat may be late before it is a failure


@dataclass(frozen=True)
class MonitorSpec:
    """What a job needs of a monitor, copied so a job never touches the ORM."""

    id: int
    kind: str
    target: str
    options: dict[str, Any]
    interval_seconds: int
    timeout_seconds: int
    locations: tuple[str, ...]
    created_at: int

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> MonitorSpec:
        """From a ``GET /api/v1/agent/monitors`` item (what a remote agent receives)."""
        return cls(
            int(item["id"]),
            item["kind"],
            item["target"],
            dict(item.get("options") or {}),
            int(item["interval_seconds"]),
            int(item["timeout_seconds"]),
            tuple(item["locations"]),
            0,
        )

    @classmethod
    def of(cls, monitor: Monitor) -> MonitorSpec:
        return cls(
            monitor.id,
            monitor.kind,
            monitor.target,
            dict(monitor.options),
            monitor.interval_seconds,
            monitor.timeout_seconds,
            tuple(monitor.locations),
            to_epoch(monitor.created_at),
        )

    @property
    def grace(self) -> int:
        return int(self.options.get("grace_seconds", DEFAULT_GRACE))


def heartbeat_interval(spec: MonitorSpec) -> int:
    """The interval stored with a ping: a result stays fresh for twice its interval,
    so a ping holds exactly until the deadline (interval plus grace)."""
    return math.ceil((spec.interval_seconds + spec.grace) / 2)


def overdue_failures(
    spec: MonitorSpec, last: tuple[int, bool] | None, now: int, limit: int = 1000
) -> list[int]:
    """The instants at which a silent heartbeat monitor failed, up to ``now``.

    The first failure is at the deadline (last ping + interval + grace, or creation +
    interval + grace if it never pinged); while the silence lasts, one more every
    interval, so the outage never goes stale into NO DATA.
    """
    if last is None:
        due = spec.created_at + spec.interval_seconds + spec.grace
    elif last[1]:
        due = last[0] + spec.interval_seconds + spec.grace
    else:
        due = last[0] + spec.interval_seconds
    failures: list[int] = []
    while due <= now and len(failures) < limit:
        failures.append(due)
        due += spec.interval_seconds
    return failures


def max_lag(spec: MonitorSpec) -> float:
    """How late a run may start before it is shed: half its interval, at most 30 s."""
    return min(spec.interval_seconds / 2, 30.0)


def heartbeat_location(locations: tuple[str, ...] | list[str], here: str) -> str:
    """Where a heartbeat is recorded: this server's location if the monitor lists it."""
    return here if here in locations else locations[0]


class CheckScheduler:
    """Runs checks for a set of monitors and hands each result to ``sink``.

    Knows nothing of where the monitors come from: the server loads them from its
    database (``ServerScheduler``), a remote agent from the API (app.agent).
    """

    def __init__(
        self,
        location: str,
        probes: ProbeContext,
        sink: Callable[[ResultIn], None],
        concurrency: int = 100,
        spread: float = 30.0,
        clock: Callable[[], float] = time.time,
        observe_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.location = location
        self.observe_lag = observe_lag
        self.probes = probes
        self.sink = sink
        self.spread = spread
        self.clock = clock
        self.limit = asyncio.Semaphore(concurrency)
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_listener(self._on_shed, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self.specs: dict[int, MonitorSpec] = {}
        self.stats = {"checks": 0, "shed": 0}
        self._due: dict[int, float] = {}
        self.in_flight = 0
        self._idle = asyncio.Event()

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def apply(self, wanted: dict[int, MonitorSpec]) -> None:
        """Make the jobs match ``wanted``: add, replace and remove as needed."""
        for monitor_id in set(self.specs) - set(wanted):
            self.remove(monitor_id)
        for spec in wanted.values():
            if self.specs.get(spec.id) != spec:
                self.schedule(spec)

    def schedule(self, spec: MonitorSpec) -> None:
        self.specs[spec.id] = spec
        interval = spec.interval_seconds
        if spec.kind == "heartbeat":
            interval = min(interval, 60)  # the watchdog looks at least every minute
        # Spread first runs, so monitors created together do not fire in step.
        first = datetime.now(UTC) + timedelta(seconds=random.uniform(0, min(interval, self.spread)))
        self.scheduler.add_job(
            self.run_job,
            IntervalTrigger(seconds=interval, start_date=first),
            args=[spec.id],
            id=f"monitor-{spec.id}",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=interval,
        )

    def remove(self, monitor_id: int) -> None:
        self.specs.pop(monitor_id, None)
        if self.scheduler.get_job(f"monitor-{monitor_id}"):
            self.scheduler.remove_job(f"monitor-{monitor_id}")

    def _on_shed(self, event: JobEvent) -> None:
        if event.job_id.startswith("monitor-"):
            self.stats["shed"] += 1

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        # Remember when the run was due; the lag is taken when the check really
        # starts (after waiting for a concurrency slot), in run_job.
        if event.job_id.startswith("monitor-") and event.scheduled_run_times:
            self._due[int(event.job_id.removeprefix("monitor-"))] = event.scheduled_run_times[
                -1
            ].timestamp()

    async def check_now(self, monitor_id: int) -> None:
        """Run one check of a scheduled monitor immediately."""
        await self.run_job(monitor_id)

    async def run_job(self, monitor_id: int) -> None:
        spec = self.specs.get(monitor_id)
        if spec is None or spec.kind == "heartbeat":
            return
        async with self.limit:
            due = self._due.pop(monitor_id, None)
            lag = max(0.0, time.time() - due) if due is not None else 0.0
            if self.observe_lag is not None and due is not None:
                self.observe_lag(lag)
            if lag > max_lag(spec):
                # Overloaded: a run this late is skipped rather than run late, so lag
                # stays bounded and on-time runs keep the capacity. Counted as shed.
                self.stats["shed"] += 1
                return
            started = self.clock()
            self.in_flight += 1
            self._idle.clear()
            try:
                result = await run_probe(
                    spec.kind, spec.target, spec.options, spec.timeout_seconds, self.probes
                )
            finally:
                self.in_flight -= 1
                if not self.in_flight:
                    self._idle.set()
        self.stats["checks"] += 1
        self.sink(
            ResultIn(
                monitor_id=spec.id,
                location=self.location,
                checked_at=int(started),
                ok=result.ok,
                interval_seconds=spec.interval_seconds,
                latency_ms=result.latency_ms,
                status_code=result.status_code,
                error=result.error,
                warning=result.warning,
            )
        )

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout``) for running checks to finish, e.g. before exit."""
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)


class ServerScheduler(CheckScheduler):
    """The scheduler inside ``uptally serve``: monitors from the database, results
    through the batched buffer, and the heartbeat watchdog."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        location: str,
        probes: ProbeContext,
        buffer: ResultBuffer,
        **kwargs: Any,
    ) -> None:
        super().__init__(location, probes, buffer.add, **kwargs)
        self.sessions = sessions
        self.buffer = buffer

    async def start_all(self) -> None:
        self.start()
        await self.sync_all()
        # Follow changes made by other API processes too.
        self.scheduler.add_job(
            self.sync_all, IntervalTrigger(seconds=60), id="resync", coalesce=True, max_instances=1
        )

    async def sync_all(self) -> None:
        async with self.sessions() as session:
            monitors = list(await session.scalars(select(Monitor).where(Monitor.enabled)))
        self.apply({m.id: MonitorSpec.of(m) for m in monitors if self.location in m.locations})

    async def sync(self, monitor_id: int) -> None:
        """Follow one monitor's change at once (called by the API after a write)."""
        async with self.sessions() as session:
            monitor = await session.get(Monitor, monitor_id)
            spec = MonitorSpec.of(monitor) if monitor is not None else None
            wanted = monitor is not None and monitor.enabled
        if spec is None or not wanted or self.location not in spec.locations:
            self.remove(monitor_id)
        elif self.specs.get(monitor_id) != spec:
            self.schedule(spec)

    async def run_job(self, monitor_id: int) -> None:
        spec = self.specs.get(monitor_id)
        if spec is not None and spec.kind == "heartbeat":
            await self._watch(spec)
        else:
            await super().run_job(monitor_id)

    async def _watch(self, spec: MonitorSpec) -> None:
        """The heartbeat watchdog: record failures while pings are overdue."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(CheckResult.checked_at, CheckResult.ok)
                    .where(CheckResult.monitor_id == spec.id)
                    .order_by(CheckResult.checked_at.desc())
                    .limit(1)
                )
            ).first()
        last = (row[0], row[1]) if row else None
        failures = overdue_failures(spec, last, int(self.clock()))
        for due in failures:
            self.buffer.add(
                ResultIn(
                    monitor_id=spec.id,
                    location=heartbeat_location(spec.locations, self.location),
                    checked_at=due,
                    ok=False,
                    interval_seconds=spec.interval_seconds,
                    error=f"no heartbeat for {spec.interval_seconds + spec.grace} s",
                )
            )
        if failures:
            await self.buffer.flush()
