"""Services: what a customer pays for and the SLA is measured on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import select

from app.api.deps import (
    Admin,
    IdFilter,
    IdPath,
    PagingDep,
    Reader,
    SessionDep,
    commit_or_conflict,
    conflict,
    load_customer,
    load_policy,
    load_service,
    paged,
    validate_merged,
)
from app.api.errors import AUTHENTICATED, error_responses, invalid
from app.models import MaintenanceWindow, Monitor, Service
from app.monitoring.state_changes import SERVICE, forget
from app.schemas.catalog import ServiceCreate, ServiceRead, ServiceUpdate
from app.schemas.common import Page, utc_now

router = APIRouter(prefix="/api/v1/services", tags=["services"], responses=AUTHENTICATED)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceRead,
    responses=error_responses(404, 409, 413),
)
async def create_service(body: ServiceCreate, session: SessionDep, who: Admin) -> Service:
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
    return service


@router.get("", response_model=Page[ServiceRead])
async def list_services(
    session: SessionDep, who: Reader, page: PagingDep, customer_id: IdFilter = None
) -> dict[str, Any]:
    query = select(Service).order_by(Service.id)
    if who.customer_id is not None:
        query = query.where(Service.customer_id == who.customer_id)
    if customer_id is not None:
        query = query.where(Service.customer_id == customer_id)
    return await paged(session, query, page)


@router.get("/{service_id}", response_model=ServiceRead, responses=error_responses(404))
async def read_service(service_id: IdPath, session: SessionDep, who: Reader) -> Service:
    return await load_service(session, who, service_id)


@router.patch("/{service_id}", response_model=ServiceRead, responses=error_responses(404, 409, 413))
async def update_service(
    service_id: IdPath, body: ServiceUpdate, session: SessionDep, who: Admin
) -> Service:
    service = await load_service(session, who, service_id)
    current = ServiceRead.model_validate(service).model_dump(exclude={"id"})
    merged = validate_merged(ServiceCreate, current, body.model_dump(exclude_unset=True))
    await load_policy(session, merged.policy_id)
    for name, value in merged.model_dump(exclude={"customer_id"}).items():
        if name != "starts_at" or value is not None:
            setattr(service, name, value)
    await commit_or_conflict(session, f"the customer already has a service {merged.slug!r}")
    return service


@router.delete(
    "/{service_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409)
)
async def delete_service(service_id: IdPath, session: SessionDep, who: Admin) -> None:
    service = await load_service(session, who, service_id)
    for table, what in ((Monitor, "monitors"), (MaintenanceWindow, "maintenance windows")):
        if await session.scalar(select(table.id).where(table.service_id == service.id)):
            raise conflict(f"service {service_id} still has {what}; delete them first")
    await session.delete(service)
    await forget(session, SERVICE, service_id)
    await session.commit()
