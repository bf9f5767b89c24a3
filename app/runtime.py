"""The running app's parts, typed: built once by ``create_app`` (app.main), kept on
``app.state.runtime``, and reached by the routers through app.api.deps
(``RuntimeDep``, ``SessionsDep``, ``SettingsDep`` ...), never by name on ``app.state``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import KeyUsage
from app.availability import DatabaseHealth
from app.config import Settings
from app.monitoring.assignments import AssignmentCache
from app.monitoring.buffer import ResultBuffer
from app.monitoring.checks import ResultIn
from app.monitoring.dispatch import Handler
from app.monitoring.ingest import MonitorDirectory
from app.monitoring.latest import LatestResults
from app.monitoring.roster import MonitorRoster
from app.monitoring.server import ServerScheduler
from app.notifications.notifier import Notifier
from app.reporting.cache import CurrentMonthFigures
from app.status.cache import StatusCache
from app.telemetry.exposition import Exposition
from app.telemetry.looplag import LoopLag
from app.telemetry.process import ProcessStats


@dataclass(eq=False)
class Runtime:
    """Everything a request or a background task may need, for one app.

    The engine is created with the app but connects only when first used; the
    lifespan disposes of it. ``scheduler`` is set only while the lifespan runs, and
    only when ``settings.scheduler_enabled``.
    """

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    monitors: MonitorDirectory  # the ingestion's monitor cache
    registry: CollectorRegistry  # what /metrics serves
    lag: Histogram  # how late scheduled checks started
    figures: CurrentMonthFigures  # every service's month to date, for pages and metrics
    database: DatabaseHealth  # whether the database answers, and since when
    status: StatusCache  # rendered status documents and badges (app.status)
    # What confirmed state changes are handed to (app.monitoring.state_changes).
    change_handlers: list[Handler]
    # What operators see (app.telemetry, app.notifications): the latest result per
    # monitor and location, the roster naming monitors, process figures, the /metrics
    # text, and what decides notifications.
    latest: LatestResults
    roster: MonitorRoster
    stats: ProcessStats
    exposition: Exposition
    notifier: Notifier
    loop_lag: LoopLag  # how late the event loop runs what is due
    scheduler: ServerScheduler | None = None
    # What "now" is for status pages and badges (tests set a fixed instant).
    clock: Callable[[], float] = time.time
    # token -> (monitor id, stored interval, location) of heartbeat monitors pinged
    # before: a ping that comes while the database is down is buffered, not lost.
    heartbeat_tokens: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    # When requests last used each API key, written to the database in the background.
    key_usage: KeyUsage = field(default_factory=KeyUsage)
    # Agents' assignments, built once per catalog version (app.monitoring.assignments).
    assignments: AssignmentCache = field(default_factory=AssignmentCache)

    def stored(self, source: str, rows: Sequence[ResultIn], seconds: float) -> None:
        """Results just stored, by any ingestion path (``source``: api, scheduler,
        heartbeat): /metrics and the notifier see them, and the batch is counted."""
        self.latest.observe(rows)
        self.stats.ingested(source, len(rows), seconds)

    @property
    def buffer(self) -> ResultBuffer | None:
        """The in-process result buffer (the scheduler's), if the scheduler runs."""
        return self.scheduler.buffer if self.scheduler is not None else None

    async def monitor_changed(self, monitor_id: int) -> None:
        """Forget the cached monitor and tell the in-process scheduler (if any), so
        ingestion and jobs follow a change made through this process at once."""
        self.monitors.forget(monitor_id)
        self.assignments.changed()  # agents see it at their next poll, not a second later
        for token, (known, _, _) in list(self.heartbeat_tokens.items()):
            if known == monitor_id:
                del self.heartbeat_tokens[token]
        if self.scheduler is not None:
            await self.scheduler.sync(monitor_id)
        # Labels and messages follow at once; a deleted monitor's gauges disappear.
        async with self.sessions() as session:
            if await self.roster.reload(session, [monitor_id]):
                self.latest.forget(monitor_id)
