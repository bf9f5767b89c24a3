"""Services: what a customer pays for and the SLA is measured on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import (
    Admin,
    IdFilter,
    IdPath,
    PagingDep,
    Reader,
    RuntimeDep,
    SessionDep,
    commit_or_conflict,
    conflict,
    count,
    load_customer,
    load_policy,
    load_service,
    validate_merged,
)
from app.api.errors import AUTHENTICATED, error_responses, invalid
from app.api.views import states_now
from app.models import Incident, MaintenanceWindow, Monitor, Service
from app.monitoring.current import StateName, state_now
from app.monitoring.state_changes import SERVICE, forget
from app.runtime import Runtime
from app.schemas.catalog import ServiceCreate, ServiceRead, ServiceUpdate, ServiceWithState
from app.schemas.common import Page, utc_now

router = APIRouter(prefix="/api/v1/services", tags=["services"], responses=AUTHENTICATED)


async def with_state(
    session: AsyncSession, runtime: Runtime, services: Sequence[Service]
) -> list[ServiceWithState]:
    """Services as read: with their state now and since when."""
    states = await states_now(session, SERVICE, [s.id for s in services], int(runtime.clock()))
    return [
        ServiceWithState(
            **ServiceRead.model_validate(s).model_dump(),
            state=states[s.id][0],
            state_since=states[s.id][1],
        )
        for s in services
    ]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceWithState,
    responses=error_responses(404, 409, 413),
)
async def create_service(
    body: ServiceCreate, session: SessionDep, who: Admin, runtime: RuntimeDep
) -> ServiceWithState:
    await load_customer(session, who, body.customer_id)
    await load_policy(session, body.policy_id)
    now = utc_now()
    service = Service(**body.model_dump(), created_at=now)
    service.starts_at = body.starts_at or now
    if service.ends_at is not None and service.ends_at <= service.starts_at:
        raise invalid(
            ("body", "ends_at"),
            "ends_at must be after starts_at (which defaults to now)",
            service.ends_at,
        )
    session.add(service)
    await commit_or_conflict(session, f"the customer already has a service {body.slug!r}")
    [read] = await with_state(session, runtime, [service])
    return read


@router.get("", response_model=Page[ServiceWithState])
async def list_services(
    session: SessionDep,
    who: Reader,
    page: PagingDep,
    runtime: RuntimeDep,
    customer_id: IdFilter = None,
    state: Annotated[
        StateName | None, Query(description="only the services in this state now, e.g. down")
    ] = None,
) -> dict[str, Any]:
    """The services (of a customer), with their state now; ``state=down`` lists those
    down now."""
    query = select(Service).order_by(Service.id)
    if who.customer_id is not None:
        query = query.where(Service.customer_id == who.customer_id)
    if customer_id is not None:
        query = query.where(Service.customer_id == customer_id)
    if state is not None:
        query = query.where(state_now(SERVICE, Service.id, int(runtime.clock())) == state)
    services = list(await session.scalars(page.window(query)))
    items = await with_state(session, runtime, services)
    return page.envelope(items, await count(session, query))


@router.get("/{service_id}", response_model=ServiceWithState, responses=error_responses(404))
async def read_service(
    service_id: IdPath, session: SessionDep, who: Reader, runtime: RuntimeDep
) -> ServiceWithState:
    [read] = await with_state(session, runtime, [await load_service(session, who, service_id)])
    return read


@router.patch(
    "/{service_id}", response_model=ServiceWithState, responses=error_responses(404, 409, 413)
)
async def update_service(
    service_id: IdPath, body: ServiceUpdate, session: SessionDep, who: Admin, runtime: RuntimeDep
) -> ServiceWithState:
    service = await load_service(session, who, service_id)
    current = ServiceRead.model_validate(service).model_dump(exclude={"id"})
    merged = validate_merged(ServiceCreate, current, body.model_dump(exclude_unset=True))
    await load_policy(session, merged.policy_id)
    for name, value in merged.model_dump(exclude={"customer_id"}).items():
        if name != "starts_at" or value is not None:
            setattr(service, name, value)
    await commit_or_conflict(session, f"the customer already has a service {merged.slug!r}")
    [read] = await with_state(session, runtime, [service])
    return read


@router.delete(
    "/{service_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409)
)
async def delete_service(
    service_id: IdPath, session: SessionDep, who: Admin, runtime: RuntimeDep
) -> None:
    service = await load_service(session, who, service_id)
    for table, what in (
        (Monitor, "monitors"),
        (MaintenanceWindow, "maintenance windows"),
        (Incident, "incidents"),
    ):
        if await session.scalar(select(table.id).where(table.service_id == service.id)):
            raise conflict(f"service {service_id} still has {what}; delete them first")
    await session.delete(service)
    await forget(session, SERVICE, service_id)
    await session.commit()
    runtime.figures.discard([service_id])  # its SLA gauges disappear at once
