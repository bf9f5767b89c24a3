"""What more than one router reads alike: a monitor as the API shows it (to admins and
customers in monitors.py, with its state now; to agents in results.py), the state now
of monitors and services, and the fold before reporting a month (billing.py,
reports.py). Routers import this, never each other."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import get_runtime
from app.models import Monitor, Service
from app.monitoring.current import state_now, state_since
from app.monitoring.folding import fold_pending
from app.monitoring.state_changes import MONITOR
from app.schemas.monitors import MonitorRead, MonitorWithState
from app.sla.periods import from_epoch


async def states_now(
    session: AsyncSession, subject: str, ids: list[int], now: int
) -> dict[int, tuple[str, datetime | None]]:
    """The state now and since when of each monitor or service (``subject``) of ``ids``."""
    if not ids:
        return {}
    table = Monitor if subject == MONITOR else Service
    rows = await session.execute(
        select(
            table.id, state_now(subject, table.id, now), state_since(subject, table.id, now)
        ).where(table.id.in_(ids))
    )
    return {
        ident: (state, from_epoch(since) if since is not None else None)
        for ident, state, since in rows
    }


async def monitors_with_state(
    session: AsyncSession, request: Request, monitors: Sequence[Monitor]
) -> list[MonitorWithState]:
    """Monitors as admins and customers read them: with their state now."""
    now = int(get_runtime(request).clock())
    states = await states_now(session, MONITOR, [m.id for m in monitors], now)
    return [
        MonitorWithState(
            **monitor_read(m, request).model_dump(),
            state=states[m.id][0],
            state_since=states[m.id][1],
        )
        for m in monitors
    ]


def monitor_read(monitor: Monitor, request: Request) -> MonitorRead:
    """A monitor as the API shows it; a heartbeat monitor gets its ping URL, under
    UPTALLY_PUBLIC_URL or else the URL the request came to."""
    read = MonitorRead.model_validate(monitor)
    if monitor.heartbeat_token:
        base = get_runtime(request).settings.public_url or str(request.base_url)
        read.heartbeat_url = f"{base.rstrip('/')}/heartbeat/{monitor.heartbeat_token}"
    return read


async def fold_for(request: Request, session: AsyncSession, service_ids: list[int] | None) -> bool:
    """Bring the stored timeline up to date for these services before reporting, within
    the read budget when that means folding everyone's results. Returns whether
    results are still waiting to be folded (a burst the folder is catching up with)."""
    runtime = get_runtime(request)
    if service_ids is None:
        budget = runtime.settings.read_fold_budget_seconds
        folded = await fold_pending(runtime.sessions, budget_seconds=budget)
    else:
        monitor_ids = list(
            await session.scalars(select(Monitor.id).where(Monitor.service_id.in_(service_ids)))
        )
        folded = await fold_pending(runtime.sessions, monitor_ids)
    # A fold for a read leaves the log to the folder, which then finds nothing new to
    # report: tell the figures cache here.
    runtime.figures.invalidate(folded.services)
    return not folded.complete
