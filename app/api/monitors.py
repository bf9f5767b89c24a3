"""Monitors: what is checked, how often, from where, and how failures are confirmed.

Creating or editing a monitor never contacts or resolves its target: only the
locations that probe it may be able to reach it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import select

from app.api.deps import (
    Admin,
    IdFilter,
    IdPath,
    PagingDep,
    Reader,
    SessionDep,
    load_monitor,
    load_service,
    validate_merged,
)
from app.models import CheckResult, Monitor, Service
from app.monitoring.folding import refold_monitor
from app.schemas.catalog import ALL_OPTIONS, MonitorCreate, MonitorRead, MonitorUpdate
from app.schemas.common import LOCATION_RE
from app.schemas.sla import ResultRead
from app.sla.calendar import from_epoch, to_epoch

router = APIRouter(prefix="/api/v1/monitors", tags=["monitors"])

_FIXED = ("service_id", "kind")


def monitor_read(monitor: Monitor, request: Request) -> MonitorRead:
    read = MonitorRead.model_validate(monitor)
    if monitor.heartbeat_token:
        base = request.app.state.settings.public_url or str(request.base_url)
        read.heartbeat_url = f"{base.rstrip('/')}/heartbeat/{monitor.heartbeat_token}"
    return read


def _as_create(monitor: Monitor) -> dict[str, Any]:
    fields = {
        name: getattr(monitor, name)
        for name in MonitorCreate.model_fields
        if name not in ALL_OPTIONS
    }
    return {**fields, **monitor.options}


def _apply(monitor: Monitor, body: MonitorCreate) -> None:
    for name, value in body.model_dump(exclude=set(ALL_OPTIONS)).items():
        setattr(monitor, name, value)
    monitor.options = body.options()
    monitor.updated_at = datetime.now(UTC)


async def _notify(request: Request, monitor_id: int) -> None:
    """Forget the cached monitor and tell the in-process scheduler (if any), so
    ingestion and jobs follow the change at once."""
    request.app.state.monitors.forget(monitor_id)
    listener = getattr(request.app.state, "on_monitor_change", None)
    if listener is not None:
        await listener(monitor_id)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MonitorRead)
async def create_monitor(
    body: MonitorCreate, request: Request, session: SessionDep, who: Admin
) -> MonitorRead:
    await load_service(session, who, body.service_id)
    monitor = Monitor(created_at=datetime.now(UTC))
    _apply(monitor, body)
    if body.kind == "heartbeat":
        monitor.heartbeat_token = secrets.token_urlsafe(24)
    session.add(monitor)
    await session.commit()
    await _notify(request, monitor.id)
    return monitor_read(monitor, request)


@router.get("", response_model=list[MonitorRead])
async def list_monitors(
    request: Request,
    session: SessionDep,
    who: Reader,
    page: PagingDep,
    service_id: IdFilter = None,
) -> list[MonitorRead]:
    query = select(Monitor).order_by(Monitor.id).limit(page.limit).offset(page.offset)
    if who.customer_id is not None:
        query = query.join(Service).where(Service.customer_id == who.customer_id)
    if service_id is not None:
        query = query.where(Monitor.service_id == service_id)
    return [monitor_read(m, request) for m in await session.scalars(query)]


@router.get("/{monitor_id}", response_model=MonitorRead)
async def read_monitor(
    monitor_id: IdPath, request: Request, session: SessionDep, who: Reader
) -> MonitorRead:
    return monitor_read(await load_monitor(session, who, monitor_id), request)


@router.patch("/{monitor_id}", response_model=MonitorRead)
async def update_monitor(
    monitor_id: IdPath, body: MonitorUpdate, request: Request, session: SessionDep, who: Admin
) -> MonitorRead:
    """Any create field but service_id and kind; ``enabled: false`` pauses probing."""
    monitor = await load_monitor(session, who, monitor_id)
    patch = body.model_dump(exclude_unset=True)
    for name in _FIXED:
        if name in patch and patch[name] != getattr(monitor, name):
            raise HTTPException(422, f"{name} cannot be changed; create a new monitor")
    confirmations = monitor.failure_confirmations
    _apply(monitor, validate_merged(MonitorCreate, _as_create(monitor), patch))
    if monitor.failure_confirmations != confirmations:
        # The fold depends on it: re-fold the whole history under the new setting.
        await refold_monitor(session, monitor.id, to_epoch(datetime.now(UTC)))
    await session.commit()
    await _notify(request, monitor.id)
    return monitor_read(monitor, request)


@router.delete("/{monitor_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_monitor(
    monitor_id: IdPath, request: Request, session: SessionDep, who: Admin
) -> None:
    """Deletes the monitor with its results and timeline; closed statements keep
    their figures. To stop probing but keep history, PATCH ``enabled: false``."""
    monitor = await load_monitor(session, who, monitor_id)
    await session.delete(monitor)
    await session.commit()
    await _notify(request, monitor_id)


@router.get("/{monitor_id}/results", response_model=list[ResultRead])
async def recent_results(
    monitor_id: IdPath,
    session: SessionDep,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    location: Annotated[str | None, Query(pattern=LOCATION_RE)] = None,
) -> list[ResultRead]:
    """The monitor's latest raw results, newest first, with their errors and warnings
    (what support looks at when a customer calls)."""
    await load_monitor(session, who, monitor_id)
    query = (
        select(CheckResult)
        .where(CheckResult.monitor_id == monitor_id)
        .order_by(CheckResult.checked_at.desc(), CheckResult.location)
        .limit(limit)
    )
    if location is not None:
        query = query.where(CheckResult.location == location)
    return [
        ResultRead(
            location=r.location,
            checked_at=from_epoch(r.checked_at),
            ok=r.ok,
            latency_ms=r.latency_ms,
            status_code=r.status_code,
            error=r.error,
            warning=r.warning,
            interval_seconds=r.interval_seconds,
        )
        for r in await session.scalars(query)
    ]
