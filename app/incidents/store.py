"""Incidents in the database: loading calendars and the support targets of services'
policies, opening incidents and recording their events, and the documents the API,
the CLI and the reports show.

An incident's ``state``, ``priority``, ``acknowledged_at`` and ``resolved_at`` are a
cache of its events (``app.incidents.clocks.replay``), refreshed whenever an event is
recorded, so lists can filter on them; the clocks are always computed, never stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents.clocks import (
    Clock,
    Event,
    Kind,
    Replayed,
    Target,
    clocks,
    refusal,
    replay,
    targets_by_priority,
)
from app.models import Incident, IncidentEvent, Service, SlaPolicy, SupportCalendar
from app.sla.calendars import Calendar
from app.sla.periods import from_epoch, to_epoch, utc_text

SYSTEM = "system"  # the actor of events the system writes (an outage ended)
MONITOR, OPERATOR, CUSTOMER = "monitor", "operator", "customer"  # sources


def calendar_of(row: SupportCalendar) -> Calendar:
    return Calendar.parse(row.timezone, row.hours, row.holidays)


@dataclass(frozen=True, slots=True)
class Contract:
    """A policy's support terms, calendars loaded."""

    targets: Mapping[str, Target]
    compliance_target_percent: Decimal


async def load_calendars(session: AsyncSession, ids: Iterable[int]) -> dict[int, Calendar]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(SupportCalendar).where(SupportCalendar.id.in_(wanted)))
    return {row.id: calendar_of(row) for row in rows}


async def missing_calendars(
    session: AsyncSession, targets: Sequence[Mapping[str, Any]]
) -> list[tuple[int, int]]:
    """``(index, calendar_id)`` of the support targets naming no stored calendar."""
    wanted = {t["calendar_id"] for t in targets if t.get("calendar_id") is not None}
    if not wanted:
        return []
    known = set(
        await session.scalars(select(SupportCalendar.id).where(SupportCalendar.id.in_(wanted)))
    )
    return [
        (i, t["calendar_id"])
        for i, t in enumerate(targets)
        if t.get("calendar_id") is not None and t["calendar_id"] not in known
    ]


async def contracts_of_services(
    session: AsyncSession, service_ids: Iterable[int]
) -> dict[int, Contract]:
    """Each service's support contract (its policy's), one Calendar object per
    calendar however many services share it (it caches its arithmetic)."""
    wanted = sorted(set(service_ids))
    if not wanted:
        return {}
    rows = list(
        await session.execute(
            select(
                Service.id,
                SlaPolicy.id,
                SlaPolicy.support_targets,
                SlaPolicy.support_compliance_target_percent,
            )
            .join(SlaPolicy, SlaPolicy.id == Service.policy_id)
            .where(Service.id.in_(wanted))
        )
    )
    calendars = await load_calendars(
        session,
        (
            t["calendar_id"]
            for _, _, targets, _ in rows
            for t in targets
            if t.get("calendar_id") is not None
        ),
    )
    by_policy: dict[int, Contract] = {}
    found = {}
    for service_id, policy_id, targets, percent in rows:
        if policy_id not in by_policy:
            by_policy[policy_id] = Contract(targets_by_priority(targets, calendars), percent)
        found[service_id] = by_policy[policy_id]
    return found


async def events_of(
    session: AsyncSession, incident_ids: Sequence[int]
) -> dict[int, list[IncidentEvent]]:
    """Each incident's events in order (time, then as recorded)."""
    found: dict[int, list[IncidentEvent]] = defaultdict(list)
    for start in range(0, len(incident_ids), 500):
        chunk = list(incident_ids[start : start + 500])
        rows = await session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id.in_(chunk))
            .order_by(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.id)
        )
        for row in rows:
            found[row.incident_id].append(row)
    return found


def _events(rows: Iterable[IncidentEvent]) -> list[Event]:
    return [Event(row.kind, to_epoch(row.at), row.priority) for row in rows]


def replayed(incident: Incident, events: Iterable[IncidentEvent]) -> Replayed:
    return replay(to_epoch(incident.opened_at), incident.opened_priority, _events(events))


def refresh(incident: Incident, events: Iterable[IncidentEvent]) -> Replayed:
    """Bring the incident's cached state in line with its events."""
    folded = replayed(incident, events)
    incident.state = folded.state.value
    incident.priority = folded.priority
    incident.acknowledged_at = (
        from_epoch(folded.acknowledged_at) if folded.acknowledged_at is not None else None
    )
    incident.resolved_at = (
        from_epoch(folded.resolved_at) if folded.resolved_at is not None else None
    )
    return folded


class Refused(Exception):
    """An event that cannot follow the incident's history: ``field`` names the body
    field at fault, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def check_event(
    incident: Incident, events: Sequence[IncidentEvent], kind: str, at: datetime,
    priority: str | None,
) -> None:  # fmt: skip
    """Refuse an event earlier than the incident's latest event (or its opening), or
    one its state does not allow (a second acknowledgement, resuming what is not
    paused ...)."""
    latest = events[-1].at if events else incident.opened_at
    if at < latest:
        what = f"its latest event ({events[-1].kind})" if events else "it was opened"
        raise Refused(
            "at",
            f"{utc_text(to_epoch(at))} is before {what} at {utc_text(to_epoch(latest))}: "
            "events are recorded in order",
        )
    folded = replayed(incident, events)
    reason = refusal(
        folded.state,
        folded.acknowledged_at is not None,
        Event(kind, to_epoch(at), priority),
    )
    if reason is not None:
        raise Refused("kind", reason)


def add_event(
    session: AsyncSession,
    incident: Incident,
    events: list[IncidentEvent],
    *,
    kind: str,
    at: datetime,
    actor: str,
    recorded_at: datetime,
    priority: str | None = None,
    message: str | None = None,
    public: bool = False,
    automatic: bool = False,
    imported: bool = False,
) -> IncidentEvent:
    """Record an event (checked by the caller) and refresh the incident; ``events``
    (the incident's, in order) gets it too."""
    event = IncidentEvent(
        incident_id=incident.id,
        kind=kind,
        at=at,
        priority=priority,
        message=message,
        public=public,
        automatic=automatic,
        imported=imported,
        actor=actor,
        recorded_at=recorded_at,
    )
    session.add(event)
    events.append(event)
    events.sort(key=lambda e: (e.at, e.id if e.id is not None else 2**63))
    refresh(incident, events)
    return event


def new_incident(
    *,
    service_id: int,
    title: str,
    priority: str,
    source: str,
    opened_at: datetime,
    opened_by: str,
    created_at: datetime,
    imported: bool = False,
    outage_started_at: datetime | None = None,
) -> Incident:
    return Incident(
        service_id=service_id,
        title=title,
        priority=priority,
        opened_priority=priority,
        source=source,
        state="open",
        opened_at=opened_at,
        outage_started_at=outage_started_at,
        keep_open=False,
        imported=imported,
        opened_by=opened_by,
        created_at=created_at,
    )


# --- documents ------------------------------------------------------------------------


def _text(moment: datetime | None) -> str | None:
    return utc_text(to_epoch(moment)) if moment is not None else None


def _clock(clock: Clock) -> dict[str, Any]:
    return {
        "target_minutes": clock.target_minutes,
        "elapsed_seconds": clock.elapsed_seconds,
        "due_at": utc_text(clock.due_at) if clock.due_at is not None else None,
        "met": clock.met,
    }


def event_document(event: IncidentEvent, *, public_only: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": event.id,
        "kind": event.kind,
        "at": _text(event.at),
        "priority": event.priority,
        "message": event.message,
        "public": event.public,
        "automatic": event.automatic,
    }
    if not public_only:  # who did it is the provider's business
        document["actor"] = event.actor
        document["imported"] = event.imported
    return document


def is_public(event: IncidentEvent) -> bool:
    """What a customer's status page shows of an incident's history: public comments."""
    return event.kind == Kind.COMMENT and event.public


def incident_document(
    incident: Incident,
    events: Sequence[IncidentEvent],
    customer_id: int,
    contract: Contract | None,
    now: int,
    *,
    public_only: bool = False,
) -> dict[str, Any]:
    """The API's incident (``GET /api/v1/incidents/{id}``); with ``public_only``, the
    events are the public comments alone, without who wrote them."""
    opened = to_epoch(incident.opened_at)
    folded = replayed(incident, events)
    target = contract.targets.get(folded.priority) if contract is not None else None
    measured = clocks(opened, folded, target, now)
    restore = (
        to_epoch(incident.restored_at) - to_epoch(incident.outage_started_at)
        if incident.restored_at is not None and incident.outage_started_at is not None
        else None
    )
    shown = [e for e in events if is_public(e)] if public_only else list(events)
    return {
        "id": incident.id,
        "service_id": incident.service_id,
        "customer_id": customer_id,
        "title": incident.title,
        "priority": folded.priority,
        "source": incident.source,
        "state": folded.state.value,
        "opened_at": _text(incident.opened_at),
        "acknowledged_at": (
            utc_text(folded.acknowledged_at) if folded.acknowledged_at is not None else None
        ),
        "resolved_at": utc_text(folded.resolved_at) if folded.resolved_at is not None else None,
        "restore_seconds": restore,
        "outage_started_at": _text(incident.outage_started_at),
        "restored_at": _text(incident.restored_at),
        "keep_open": incident.keep_open,
        "imported": incident.imported,
        "respond": _clock(measured.respond),
        "resolve": _clock(measured.resolve),
        "events": [event_document(e, public_only=public_only) for e in shown],
    }


async def documents(
    session: AsyncSession, incidents: Sequence[Incident], now: int, *, public_only: bool = False
) -> list[dict[str, Any]]:
    """Documents of many incidents: three queries whatever their number."""
    if not incidents:
        return []
    service_ids = {i.service_id for i in incidents}
    customers = dict(
        (
            await session.execute(
                select(Service.id, Service.customer_id).where(Service.id.in_(sorted(service_ids)))
            )
        ).all()
    )
    contracts = await contracts_of_services(session, service_ids)
    events = await events_of(session, [i.id for i in incidents])
    return [
        incident_document(
            incident,
            events.get(incident.id, []),
            customers[incident.service_id],
            contracts.get(incident.service_id),
            now,
            public_only=public_only,
        )
        for incident in incidents
    ]
