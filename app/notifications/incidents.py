"""Incidents about to miss their response target: open incidents nobody has
acknowledged yet, with their response clocks (app.incidents, on the support calendar
of their policy's target for their priority)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents.clocks import clocks
from app.incidents.store import contracts_of_services, events_of, replayed
from app.models import Incident
from app.sla.periods import to_epoch


@dataclass(frozen=True, slots=True)
class Deadline:
    incident_id: int
    service_id: int
    title: str
    priority: str
    due_at: int  # when the response target is missed


async def respond_deadlines(session: AsyncSession, now: int) -> list[Deadline]:
    """Every unacknowledged, unresolved incident whose priority has a response target,
    with the instant that target is missed. A few queries for all of them."""
    incidents = list(
        await session.scalars(
            select(Incident).where(Incident.acknowledged_at.is_(None), Incident.state != "resolved")
        )
    )
    if not incidents:
        return []
    contracts = await contracts_of_services(session, {i.service_id for i in incidents})
    events = await events_of(session, [i.id for i in incidents])
    found = []
    for incident in incidents:
        folded = replayed(incident, events.get(incident.id, []))
        contract = contracts.get(incident.service_id)
        target = contract.targets.get(folded.priority) if contract is not None else None
        if target is None:
            continue
        respond = clocks(to_epoch(incident.opened_at), folded, target, now).respond
        if respond.stopped or respond.due_at is None:
            continue
        found.append(
            Deadline(
                incident.id, incident.service_id, incident.title, folded.priority, respond.due_at
            )
        )
    return found
