"""Incidents of outages: a state-change handler (app.monitoring.dispatch) that opens
one incident when a service goes DOWN and resolves it when the service is UP again.

- Opened at the outage's first DOWN instant (the confirmed change's ``at``, from the
  folded timeline), source ``monitor``, with the configured priority
  (``UPTALLY_INCIDENT_OUTAGE_PRIORITY``, default P1). One incident per outage: while a
  service's outage incident has not seen the service UP again, a further DOWN (after
  NO DATA, say) belongs to it; a change delivered twice finds the incident it opened
  (and a unique constraint on the service and the outage's start backs that up).
- When the service is UP again: ``restored_at`` is that instant (``restore_seconds``
  = wall-clock first DOWN to first UP), and unless an operator set ``keep_open`` or
  already resolved it, an automatic ``resolve`` event at that instant closes it.
  Automatic events are never a human response: they stop no response clock by
  themselves, only as the resolution does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.incidents.store import MONITOR, SYSTEM, add_event, events_of, new_incident
from app.models import Incident, Service
from app.monitoring.dispatch import Change, Handler
from app.monitoring.state_changes import SERVICE
from app.sla.periods import from_epoch

DOWN, UP = "down", "up"


async def _ongoing(session: AsyncSession, service_id: int) -> Incident | None:
    """The service's outage incident that has not seen it UP again, if any."""
    found: Incident | None = await session.scalar(
        select(Incident)
        .where(
            Incident.service_id == service_id,
            Incident.source == MONITOR,
            Incident.restored_at.is_(None),
        )
        .order_by(Incident.opened_at.desc(), Incident.id.desc())
        .limit(1)
        .with_for_update()  # an operator's event on it waits (PostgreSQL)
    )
    return found


async def _went_down(session: AsyncSession, change: Change, priority: str, now: int) -> None:
    started = from_epoch(change.at)
    if await _ongoing(session, change.subject_id) is not None:
        return
    if await session.scalar(
        select(Incident.id).where(
            Incident.service_id == change.subject_id, Incident.outage_started_at == started
        )
    ):
        return  # delivered before, and already restored
    service = await session.get(Service, change.subject_id)
    if service is None:
        return  # deleted since
    recorded = from_epoch(now)
    incident = new_incident(
        service_id=service.id,
        title=f"{service.name} is down",
        priority=priority,
        source=MONITOR,
        opened_at=started,
        opened_by=SYSTEM,
        created_at=recorded,
        outage_started_at=started,
    )
    session.add(incident)
    await session.flush()
    add_event(
        session,
        incident,
        [],
        kind="comment",
        at=started,
        actor=SYSTEM,
        recorded_at=recorded,
        message=f"DOWN: {change.reason}"[:4000],
        automatic=True,
    )


async def _came_up(session: AsyncSession, change: Change, now: int) -> None:
    incident = await _ongoing(session, change.subject_id)
    if incident is None or incident.outage_started_at is None:
        return
    restored = from_epoch(change.at)
    if restored < incident.outage_started_at:
        return  # an UP before this outage began: not its end
    incident.restored_at = restored
    if incident.keep_open or incident.state == "resolved":
        return
    events = (await events_of(session, [incident.id])).get(incident.id, [])
    add_event(
        session,
        incident,
        events,
        kind="resolve",
        at=restored,
        actor=SYSTEM,
        recorded_at=from_epoch(now),
        message=f"UP again: {change.reason}"[:4000],
        automatic=True,
    )


def outage_incidents(
    sessions: async_sessionmaker[AsyncSession],
    priority: str = "P1",
    clock: Callable[[], float] = time.time,
) -> Handler:
    """The handler for ``Runtime.change_handlers``: one transaction per batch."""

    async def handle(changes: Sequence[Change]) -> None:
        relevant = sorted(
            (c for c in changes if c.subject == SERVICE and c.new in (DOWN, UP) and c.old != c.new),
            key=lambda c: (c.at, c.id),
        )
        if not relevant:
            return
        now = int(clock())
        async with sessions() as session, session.begin():
            for change in relevant:
                if change.new == DOWN:
                    await _went_down(session, change, priority, now)
                else:
                    await _came_up(session, change, now)
                await session.flush()

    return handle
