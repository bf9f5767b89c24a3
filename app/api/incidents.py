"""Incidents and their events (API_CONTRACT.md "Support and incidents").

Opened by an operator (admin), by a customer on its own services, or by the system
when a service goes DOWN (app.incidents.outages). Importing history (``opened_at`` or
an event's ``at`` in the past) is admin-only, like maintenance announcements. Events
are recorded in order: one earlier than the incident's latest event is refused, as is
one its state does not allow; either way nothing is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import (
    MONTH_PATTERN,
    Admin,
    IdFilter,
    IdPath,
    PagingDep,
    Reader,
    SessionDep,
    allow,
    count,
    load_service,
    month_param,
    not_found,
    owns,
)
from app.api.errors import AUTHENTICATED, error_responses, invalid
from app.auth import Principal, Scope
from app.incidents.store import (
    CUSTOMER,
    OPERATOR,
    Refused,
    add_event,
    check_event,
    documents,
    event_document,
    events_of,
    new_incident,
)
from app.models import Customer, Incident, Service
from app.schemas.common import Page, utc_now
from app.schemas.support import (
    IncidentCreate,
    IncidentEventCreate,
    IncidentEventRead,
    IncidentRead,
    IncidentUpdate,
)
from app.sla.periods import from_epoch, month_period, to_epoch

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], responses=AUTHENTICATED)

# Admins, and customers on their own services (opening, comments).
AdminOrCustomer = Annotated[Principal, Depends(allow(Scope.CUSTOMER))]


async def load_incident(
    session: AsyncSession, who: Principal, ident: int, *, lock: bool = False
) -> Incident:
    """The incident, if the caller may see it (else a 404); ``lock``: held until the
    transaction ends (PostgreSQL), so two events checked against its history at once
    are recorded one after the other."""
    incident = await session.get(Incident, ident, with_for_update=lock)
    if incident is None:
        raise not_found("incident", ident)
    service = await session.get(Service, incident.service_id)
    if service is None or not owns(who, service.customer_id):
        raise not_found("incident", ident)
    return incident


async def _document(session: AsyncSession, incident: Incident) -> dict[str, Any]:
    [document] = await documents(session, [incident], to_epoch(datetime.now(UTC)))
    return document


def _when(given: datetime | None, now: datetime, who: Principal, field: str) -> datetime:
    """An instant given (or now): not in the future; in the past only for admins."""
    moment = given or now
    if moment > now:
        raise invalid(("body", field), f"{field} cannot be in the future", moment)
    if moment < now and who.scope is not Scope.ADMIN:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"only admins may give a past {field} (importing history)",
        )
    return moment


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentRead,
    responses=error_responses(404, 409, 413),
)
async def create_incident(
    body: IncidentCreate, session: SessionDep, who: AdminOrCustomer
) -> dict[str, Any]:
    await load_service(session, who, body.service_id)
    now = utc_now()
    opened_at = _when(body.opened_at, now, who, "opened_at")
    incident = new_incident(
        service_id=body.service_id,
        title=body.title,
        priority=body.priority,
        source=CUSTOMER if who.scope is Scope.CUSTOMER else OPERATOR,
        opened_at=opened_at,
        opened_by=who.label,
        created_at=now,
        imported=opened_at < now,
    )
    session.add(incident)
    await session.commit()
    return await _document(session, incident)


@router.get("", response_model=Page[IncidentRead])
async def list_incidents(
    session: SessionDep,
    who: Reader,
    page: PagingDep,
    service_id: IdFilter = None,
    customer_id: IdFilter = None,
    state: Literal["open", "acknowledged", "paused", "resolved"] | None = None,
    month: str | None = Query(
        default=None,
        description="opened in this calendar month of the customer (YYYY-MM)",
        json_schema_extra=MONTH_PATTERN,
    ),
) -> dict[str, Any]:
    """Incidents, oldest first; a customer key sees its own."""
    period = month_param(month) if month is not None else None
    query = (
        select(Incident)
        .join(Service, Service.id == Incident.service_id)
        .order_by(Incident.opened_at, Incident.id)
    )
    if who.customer_id is not None:
        query = query.where(Service.customer_id == who.customer_id)
    if customer_id is not None:
        query = query.where(Service.customer_id == customer_id)
    if service_id is not None:
        query = query.where(Incident.service_id == service_id)
    if state is not None:
        query = query.where(Incident.state == state)
    if period is not None:
        # Each customer's month is in its own time zone: one condition per zone in use.
        query = query.join(Customer, Customer.id == Service.customer_id)
        zones = select(Customer.timezone).distinct()
        if who.customer_id is not None or customer_id is not None:
            zones = zones.where(Customer.id.in_({who.customer_id, customer_id} - {None}))
        conditions = []
        for zone in await session.scalars(zones):
            start, end = month_period(period, zone)
            conditions.append(
                and_(
                    Customer.timezone == zone,
                    Incident.opened_at >= from_epoch(start),
                    Incident.opened_at < from_epoch(end),
                )
            )
        query = query.where(or_(*conditions) if conditions else Customer.id.is_(None))
    items = list(await session.scalars(page.window(query)))
    found = await documents(session, items, to_epoch(datetime.now(UTC)))
    return page.envelope(found, await count(session, query))


@router.get("/{incident_id}", response_model=IncidentRead, responses=error_responses(404))
async def read_incident(incident_id: IdPath, session: SessionDep, who: Reader) -> dict[str, Any]:
    return await _document(session, await load_incident(session, who, incident_id))


@router.patch(
    "/{incident_id}", response_model=IncidentRead, responses=error_responses(404, 409, 413)
)
async def update_incident(
    incident_id: IdPath, body: IncidentUpdate, session: SessionDep, who: Admin
) -> dict[str, Any]:
    """The title, and ``keep_open``: an outage's incident then stays open once the
    service is UP again (an operator resolves it)."""
    incident = await load_incident(session, who, incident_id)
    changes = body.model_dump(exclude_unset=True)
    for name in ("title", "keep_open"):
        if changes.get(name) is not None:
            setattr(incident, name, changes[name])
    await session.commit()
    return await _document(session, incident)


@router.post(
    "/{incident_id}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentEventRead,
    responses=error_responses(404, 409, 413),
)
async def create_event(
    incident_id: IdPath, body: IncidentEventCreate, session: SessionDep, who: AdminOrCustomer
) -> dict[str, Any]:
    """``acknowledge`` is the provider's human response, and every kind but
    ``comment`` is the provider's: admin scope. A customer key may comment on its own
    incidents (not publicly: the status page shows what the provider publishes)."""
    incident = await load_incident(session, who, incident_id, lock=True)
    if who.scope is not Scope.ADMIN and (body.kind != "comment" or body.public):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "a customer key may add internal comments only; "
            f"{'public comments' if body.kind == 'comment' else repr(body.kind)} need admin",
        )
    now = utc_now()
    at = _when(body.at, now, who, "at")
    events = (await events_of(session, [incident.id])).get(incident.id, [])
    try:
        check_event(incident, events, body.kind, at, body.priority)
    except Refused as refused:
        if refused.field == "at":
            raise invalid(("body", "at"), refused.reason, at) from None
        raise HTTPException(status.HTTP_409_CONFLICT, refused.reason) from None
    event = add_event(
        session,
        incident,
        events,
        kind=body.kind,
        at=at,
        actor=who.label,
        recorded_at=now,
        priority=body.priority,
        message=body.message,
        public=body.public,
        imported=at < now,
    )
    await session.commit()
    return event_document(event)
