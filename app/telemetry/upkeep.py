"""The upkeep behind ``/metrics``, in the background so a scrape only reads memory:
the monitor roster loaded whole every ``ROSTER_MAX_AGE`` seconds (and monitors it no
longer has dropped from the latest results), the latest results seeded from the
database once at start, and the backlog gauges counted (one small query each)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.availability import unreachable
from app.models import DirtyMarks, NotificationDelivery, StateChange
from app.monitoring.latest import LatestResults, seed
from app.monitoring.roster import MonitorRoster
from app.telemetry.process import ProcessStats

log = logging.getLogger(__name__)

ROSTER_MAX_AGE = 30.0  # seconds: renames and deletions made by other processes show by then


async def sample_backlogs(session: AsyncSession, stats: ProcessStats, now: int) -> None:
    marks, oldest = (
        await session.execute(select(func.count(), func.min(DirtyMarks.created_at)))
    ).one()
    stats.fold_backlog = int(marks)
    stats.fold_backlog_age = max(0, now - int(oldest)) if oldest is not None else 0
    stats.state_changes_pending = int(
        await session.scalar(
            select(func.count()).where(StateChange.processed_at.is_(None), StateChange.at <= now)
        )
        or 0
    )
    stats.outbox_pending = int(
        await session.scalar(select(func.count()).where(NotificationDelivery.status == "pending"))
        or 0
    )


async def upkeep_once(
    sessions: async_sessionmaker[AsyncSession],
    roster: MonitorRoster,
    latest: LatestResults,
    stats: ProcessStats,
    now: float,
) -> None:
    async with sessions() as session:
        if roster.loaded_at is None or now - roster.loaded_at >= ROSTER_MAX_AGE:
            await roster.load(session, now)
            latest.retain(set(roster.entries()))
        if not latest.seeded:
            pairs = [
                (entry.id, location)
                for entry in roster.entries().values()
                for location in entry.locations
            ]
            found = await seed(session, latest, pairs)
            log.debug("seeded the latest results of %d monitor locations", found)
        await sample_backlogs(session, stats, int(now))


async def run_upkeep(
    sessions: async_sessionmaker[AsyncSession],
    roster: MonitorRoster,
    latest: LatestResults,
    stats: ProcessStats,
    every: float,
    stop: asyncio.Event,
    clock: Callable[[], float] = time.time,
) -> None:
    while not stop.is_set():
        try:
            await upkeep_once(sessions, roster, latest, stats, clock())
        except Exception as exc:
            if not unreachable(exc):  # an outage is logged once (app.availability)
                log.exception("metrics upkeep failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
