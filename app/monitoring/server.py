"""The scheduler inside ``uptally serve``: monitors from the database, results
through the batched buffer, and the heartbeat watchdog.

Also where a monitor row becomes a ``MonitorSpec`` (``spec_of``): the one place the
checks' value types meet the ORM.
"""

from __future__ import annotations

from typing import Any

from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.availability import UNREACHABLE, DatabaseHealth
from app.models import CheckResult, Monitor
from app.monitoring.assignments import catalog_version
from app.monitoring.buffer import ResultBuffer
from app.monitoring.checks import MonitorSpec, ResultIn
from app.monitoring.heartbeats import heartbeat_location, overdue_error, overdue_failures
from app.monitoring.scheduler import CheckScheduler
from app.sla.periods import to_epoch
from probes.registry import ProbeContext

RESYNC_EVERY = 60  # seconds: how soon changes made by other API processes are followed


def spec_of(monitor: Monitor) -> MonitorSpec:
    """The monitor as its jobs see it."""
    return MonitorSpec(
        id=monitor.id,
        kind=monitor.kind,
        target=monitor.target,
        options=dict(monitor.options),
        interval_seconds=monitor.interval_seconds,
        timeout_seconds=monitor.timeout_seconds,
        locations=tuple(monitor.locations),
        created_at=to_epoch(monitor.created_at),
    )


class ServerScheduler(CheckScheduler):
    """The check scheduler fed from the database; heartbeat jobs are the watchdog."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        location: str,
        probes: ProbeContext,
        buffer: ResultBuffer,
        database: DatabaseHealth | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(location, probes, buffer.add, **kwargs)
        self.sessions = sessions
        self.buffer = buffer
        # Whether the database was reachable: the watchdog never blames a customer for
        # silence while this server could not record pings.
        self.database = database or DatabaseHealth(self.clock)
        self._synced_version: str | None = None  # the catalog version sync_all last read

    async def start_all(self) -> None:
        self.start()
        await self.sync_all()
        self.scheduler.add_job(
            self.sync_all,
            IntervalTrigger(seconds=RESYNC_EVERY),
            id="resync",
            coalesce=True,
            max_instances=1,
        )

    async def sync_all(self) -> None:
        """Follow the catalog, reading it whole only when its version moved: at
        100,000 monitors a full read is seconds of CPU, once a minute in every
        process, and the catalog rarely changes."""
        async with self.sessions() as session:
            version = await catalog_version(session)
            if version == self._synced_version:
                return
            monitors = list(await session.scalars(select(Monitor).where(Monitor.enabled)))
        self.apply({m.id: spec_of(m) for m in monitors if self.location in m.locations})
        self._synced_version = version

    async def sync(self, monitor_id: int) -> None:
        """Follow one monitor's change at once (called by the API after a write)."""
        async with self.sessions() as session:
            monitor = await session.get(Monitor, monitor_id)
            spec = spec_of(monitor) if monitor is not None else None
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
        """The heartbeat watchdog: record failures while pings are overdue, but none
        dated where pings may have been lost by us (``DatabaseHealth``)."""
        try:
            async with self.sessions() as session:
                row = (
                    await session.execute(
                        select(CheckResult.checked_at, CheckResult.ok)
                        .where(CheckResult.monitor_id == spec.id)
                        .order_by(CheckResult.checked_at.desc())
                        .limit(1)
                    )
                ).first()
        except UNREACHABLE as exc:
            self.database.failed(exc)
            return
        self.database.succeeded()
        last = (row[0], row[1]) if row else None
        failures = overdue_failures(
            spec, last, int(self.clock()), listening_since=self.database.listening_since
        )
        for due in failures:
            self.buffer.add(
                ResultIn(
                    monitor_id=spec.id,
                    location=heartbeat_location(spec.locations, self.location),
                    checked_at=due,
                    ok=False,
                    interval_seconds=spec.interval_seconds,
                    error=overdue_error(spec),
                )
            )
        if failures:
            await self.buffer.flush()
