"""Maintenance windows: announced time that is not downtime.

A window excuses downtime only if announced early enough (SLA_RULES.md section 3), so
the announcement time is the moment the server recorded the window. Only an admin
may give an earlier ``announced_at`` (to import history); such windows are flagged
``imported``. Moving or stretching a window re-announces it now; shrinking it does not.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from app.api.deps import (
    Admin,
    IdFilter,
    IdPath,
    PagingDep,
    Reader,
    SessionDep,
    load_service,
    load_window,
    paged,
    validate_merged,
)
from app.api.errors import AUTHENTICATED, error_responses, invalid
from app.auth import Scope
from app.models import MaintenanceWindow, Service
from app.schemas.catalog import (
    MaintenanceWindowCreate,
    MaintenanceWindowRead,
    MaintenanceWindowUpdate,
)
from app.schemas.common import Page, utc_now

router = APIRouter(
    prefix="/api/v1/maintenance-windows", tags=["maintenance-windows"], responses=AUTHENTICATED
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MaintenanceWindowRead,
    responses=error_responses(404, 409, 413),
)
async def create_window(
    body: MaintenanceWindowCreate, session: SessionDep, who: Admin
) -> MaintenanceWindow:
    await load_service(session, who, body.service_id)
    now = utc_now()
    announced_at = body.announced_at or now
    if announced_at > now:
        raise invalid(
            ("body", "announced_at"), "announced_at cannot be in the future", announced_at
        )
    if announced_at < now and who.scope is not Scope.ADMIN:
        raise HTTPException(403, "only admins may import windows announced in the past")
    window = MaintenanceWindow(
        service_id=body.service_id,
        title=body.title,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        announced_at=announced_at,
        recorded_at=now,
        imported=announced_at < now,
        recorded_by=who.label,
    )
    session.add(window)
    await session.commit()
    return window


@router.get("", response_model=Page[MaintenanceWindowRead])
async def list_windows(
    session: SessionDep,
    who: Reader,
    page: PagingDep,
    service_id: IdFilter = None,
) -> dict[str, Any]:
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
    if who.customer_id is not None:
        query = query.join(Service).where(Service.customer_id == who.customer_id)
    if service_id is not None:
        query = query.where(MaintenanceWindow.service_id == service_id)
    return await paged(session, query, page)


@router.get("/{window_id}", response_model=MaintenanceWindowRead, responses=error_responses(404))
async def read_window(window_id: IdPath, session: SessionDep, who: Reader) -> MaintenanceWindow:
    return await load_window(session, who, window_id)


@router.patch(
    "/{window_id}", response_model=MaintenanceWindowRead, responses=error_responses(404, 409, 413)
)
async def update_window(
    window_id: IdPath, body: MaintenanceWindowUpdate, session: SessionDep, who: Admin
) -> MaintenanceWindow:
    window = await load_window(session, who, window_id)
    current = {
        "service_id": window.service_id,
        "title": window.title,
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
    }
    merged = validate_merged(MaintenanceWindowCreate, current, body.model_dump(exclude_unset=True))
    shrunk = merged.starts_at >= window.starts_at and merged.ends_at <= window.ends_at
    if not shrunk:
        now = utc_now()
        window.announced_at = window.recorded_at = now
        window.imported = False
        window.recorded_by = who.label
    window.title, window.starts_at, window.ends_at = merged.title, merged.starts_at, merged.ends_at
    await session.commit()
    return window


@router.delete(
    "/{window_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409)
)
async def delete_window(window_id: IdPath, session: SessionDep, who: Admin) -> None:
    await session.delete(await load_window(session, who, window_id))
    await session.commit()
