"""The running app's parts, typed: built once by ``create_app`` (app.main), kept on
``app.state.runtime``, and reached by the routers through app.api.deps
(``RuntimeDep``, ``SessionsDep``, ``SettingsDep`` ...), never by name on ``app.state``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.availability import DatabaseHealth
from app.config import Settings
from app.monitoring.buffer import ResultBuffer
from app.monitoring.dispatch import Handler
from app.monitoring.ingest import MonitorDirectory
from app.monitoring.server import ServerScheduler
from app.reporting.cache import CurrentMonthFigures


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
    # What confirmed state changes are handed to (app.monitoring.state_changes).
    change_handlers: list[Handler]
    scheduler: ServerScheduler | None = None
    # token -> (monitor id, stored interval, location) of heartbeat monitors pinged
    # before: a ping that comes while the database is down is buffered, not lost.
    heartbeat_tokens: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    @property
    def buffer(self) -> ResultBuffer | None:
        """The in-process result buffer (the scheduler's), if the scheduler runs."""
        return self.scheduler.buffer if self.scheduler is not None else None

    async def monitor_changed(self, monitor_id: int) -> None:
        """Forget the cached monitor and tell the in-process scheduler (if any), so
        ingestion and jobs follow a change made through this process at once."""
        self.monitors.forget(monitor_id)
        for token, (known, _, _) in list(self.heartbeat_tokens.items()):
            if known == monitor_id:
                del self.heartbeat_tokens[token]
        if self.scheduler is not None:
            await self.scheduler.sync(monitor_id)
