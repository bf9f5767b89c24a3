"""Monitors: what is checked, how often, from where, and how failures are confirmed.

Creating or editing a monitor never contacts or resolves its target: only the
locations that probe it may be able to reach it.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select

from app.api.deps import (
    Admin,
    IdFilter,
    IdPath,
    PagingDep,
    Reader,
    SessionDep,
    count,
    get_runtime,
    load_monitor,
    load_service,
    validate_merged,
)
from app.api.errors import AUTHENTICATED, error_responses, invalid
from app.api.views import monitor_read, monitors_with_state
from app.models import CheckResult, Monitor, Service
from app.monitoring.assignments import edit_stamp
from app.monitoring.current import StateName, state_now
from app.monitoring.folding import refold_monitor
from app.monitoring.state_changes import MONITOR, forget, recompute_history
from app.schemas.common import LOCATION_RE, Page, utc_now
from app.schemas.monitors import (
    ALL_OPTIONS,
    MonitorCreate,
    MonitorRead,
    MonitorUpdate,
    MonitorWithState,
)
from app.schemas.sla import ResultRead
from app.sla.periods import from_epoch

router = APIRouter(prefix="/api/v1/monitors", tags=["monitors"], responses=AUTHENTICATED)

# The epoch seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
_FIRST_INSTANT, _LAST_INSTANT = -62_135_596_800, 253_402_300_799

# A read's fields that a patch may carry only unchanged (so a GET can be sent back).
_READ_ONLY = ("id", "service_id", "kind", "heartbeat_url")
# A read's fields that say what was observed: a patch may carry them, and they are
# ignored (they change with every outage, so "unchanged" could not be asked).
_OBSERVED = ("state", "state_since")


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
    monitor.updated_at = edit_stamp()  # the agents' assignment version sums these


async def _notify(request: Request, monitor_id: int) -> None:
    """Forget the cached monitor and tell the in-process scheduler (if any), so
    ingestion and jobs follow the change at once."""
    await get_runtime(request).monitor_changed(monitor_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MonitorWithState,
    responses=error_responses(404, 409, 413),
)
async def create_monitor(
    body: MonitorCreate, request: Request, session: SessionDep, who: Admin
) -> MonitorWithState:
    await load_service(session, who, body.service_id)
    monitor = Monitor(created_at=utc_now())
    _apply(monitor, body)
    if body.kind == "heartbeat":
        monitor.heartbeat_token = secrets.token_urlsafe(24)
    session.add(monitor)
    await session.commit()
    await _notify(request, monitor.id)
    [read] = await monitors_with_state(session, request, [monitor])
    return read


@router.get("", response_model=Page[MonitorWithState])
async def list_monitors(
    request: Request,
    session: SessionDep,
    who: Reader,
    page: PagingDep,
    service_id: IdFilter = None,
    state: Annotated[
        StateName | None, Query(description="only the monitors in this state now, e.g. down")
    ] = None,
) -> dict[str, Any]:
    """The monitors (of a service), with their state now; ``state=down`` answers
    "what is down now?"."""
    query = select(Monitor).order_by(Monitor.id)
    if who.customer_id is not None:
        query = query.join(Service).where(Service.customer_id == who.customer_id)
    if service_id is not None:
        query = query.where(Monitor.service_id == service_id)
    if state is not None:
        now = int(get_runtime(request).clock())
        query = query.where(state_now(MONITOR, Monitor.id, now) == state)
    monitors = list(await session.scalars(page.window(query)))
    items = await monitors_with_state(session, request, monitors)
    return page.envelope(items, await count(session, query))


@router.get("/{monitor_id}", response_model=MonitorWithState, responses=error_responses(404))
async def read_monitor(
    monitor_id: IdPath, request: Request, session: SessionDep, who: Reader
) -> MonitorWithState:
    monitor = await load_monitor(session, who, monitor_id)
    [read] = await monitors_with_state(session, request, [monitor])
    return read


@router.patch(
    "/{monitor_id}", response_model=MonitorWithState, responses=error_responses(404, 409, 413)
)
async def update_monitor(
    monitor_id: IdPath, body: MonitorUpdate, request: Request, session: SessionDep, who: Admin
) -> MonitorWithState:
    """Any create field but service_id and kind, validated merged with the stored
    monitor; ``enabled: false`` pauses probing. A monitor as read (GET) is a valid
    patch: its read-only fields are accepted unchanged, its ``options`` replace the
    stored ones."""
    monitor = await load_monitor(session, who, monitor_id)
    current, patch = _merge_base(monitor, monitor_read(monitor, request), body)
    confirmations, quorum = monitor.failure_confirmations, monitor.quorum
    _apply(monitor, validate_merged(MonitorCreate, current, patch))
    if monitor.failure_confirmations != confirmations:
        # The fold depends on it: re-fold the whole history under the new setting.
        await session.flush()
        await refold_monitor(session, monitor.id)
    if monitor.quorum != quorum:
        # The segments stay, but which of them make the monitor DOWN changed.
        await session.flush()
        await recompute_history(session, monitor.service_id, monitor.id)
    await session.commit()
    await _notify(request, monitor.id)
    [read] = await monitors_with_state(session, request, [monitor])
    return read


def _merge_base(
    monitor: Monitor, read: MonitorRead, body: MonitorUpdate
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored monitor as create fields, and the patch to lay over it."""
    patch = body.model_dump(exclude_unset=True)
    for name in _OBSERVED:
        patch.pop(name, None)
    for name in _READ_ONLY:
        if name not in patch:
            continue
        value = patch.pop(name)
        unchanged = value == getattr(read, name) or (
            name == "heartbeat_url"
            and monitor.heartbeat_token is not None
            and isinstance(value, str)
            and value.endswith(f"/heartbeat/{monitor.heartbeat_token}")
        )
        if not unchanged:
            fix = "create a new monitor" if name in ("service_id", "kind") else "leave it out"
            raise invalid(("body", name), f"{name} cannot be changed; {fix}", value)
    current = _as_create(monitor)
    if "options" in patch:
        given: dict[str, Any] = patch.pop("options") or {}
        for name in sorted(given.keys() & patch.keys()):
            if given[name] != patch[name]:
                raise invalid(
                    ("body", name), f"{name} differs from options.{name}; give it once", patch[name]
                )
        current = {k: v for k, v in current.items() if k not in ALL_OPTIONS} | given
    return current, patch


@router.delete(
    "/{monitor_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404, 409)
)
async def delete_monitor(
    monitor_id: IdPath, request: Request, session: SessionDep, who: Admin
) -> None:
    """Deletes the monitor with its results and timeline; closed statements keep
    their figures. To stop probing but keep history, PATCH ``enabled: false``."""
    monitor = await load_monitor(session, who, monitor_id)
    service_id = monitor.service_id
    await session.delete(monitor)
    await session.flush()  # its segments go with it (ON DELETE CASCADE)
    await forget(session, MONITOR, monitor_id)
    await recompute_history(session, service_id, None)
    await session.commit()
    await _notify(request, monitor_id)


@router.get(
    "/{monitor_id}/results", response_model=Page[ResultRead], responses=error_responses(404)
)
async def recent_results(
    monitor_id: IdPath,
    session: SessionDep,
    who: Reader,
    page: PagingDep,
    location: Annotated[str | None, Query(pattern=LOCATION_RE)] = None,
) -> dict[str, Any]:
    """The monitor's latest raw results, newest first, with their errors and warnings
    (what support looks at when a customer calls)."""
    await load_monitor(session, who, monitor_id)
    query = (
        select(CheckResult)
        .where(
            CheckResult.monitor_id == monitor_id,
            # Only instants a datetime can hold: a row stored before checked_at was
            # bounded (year 1, say) must not make every read of the list fail.
            CheckResult.checked_at.between(_FIRST_INSTANT, _LAST_INSTANT),
        )
        .order_by(CheckResult.checked_at.desc(), CheckResult.location)
    )
    if location is not None:
        query = query.where(CheckResult.location == location)
    items = [
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
        for r in await session.scalars(page.window(query))
    ]
    return page.envelope(items, await count(session, query))
