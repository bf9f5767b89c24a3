"""Carrying out a plan in the caller's transaction, as the API's handlers would.

Each write mirrors its handler in ``app/api/`` (named below), so an object applied
from a file is stored exactly as the same object sent to the API: a policy's tiers
sorted as decimal strings, a service's start defaulting to now, a heartbeat monitor's
ping token, a window's announcement (an earlier one is an admin import, flagged
``imported``; stretching re-announces it now), a monitor's history re-folded when its
confirmations change and its state changes recomputed when its quorum changes or a
monitor of its service is deleted. ``tests/test_catalog_io.py`` checks that a catalog
applied from a file reads back through the API as the one it was exported from.

Creates and updates go parents first; deletions (only planned with --prune) go
children first, so the API's refusals (a customer with services, a service with
monitors) never arise. A constraint the plan did not foresee (a table added later
that points at a service) makes the database refuse, and the caller's transaction
rolls back: nothing is written.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog_io.fields import (
    CALENDAR,
    CUSTOMER,
    KINDS,
    MONITOR,
    POLICY,
    SERVICE,
    WINDOW,
    Key,
    label,
)
from app.catalog_io.plan import CREATE, DELETE, KEEP, UPDATE, Change, Plan
from app.db import plain_decimal
from app.models import (
    Customer,
    MaintenanceWindow,
    Monitor,
    Service,
    SlaPolicy,
    SupportCalendar,
)
from app.monitoring.assignments import edit_stamp
from app.monitoring.folding import refold_monitor
from app.monitoring.state_changes import MONITOR as MONITOR_SUBJECT
from app.monitoring.state_changes import SERVICE as SERVICE_SUBJECT
from app.monitoring.state_changes import forget, recompute_history
from app.schemas.catalog import (
    CustomerCreate,
    MaintenanceWindowCreate,
    ServiceCreate,
    SlaPolicyCreate,
)
from app.schemas.monitors import ALL_OPTIONS, MonitorCreate
from app.schemas.support import SupportCalendarCreate

_MODELS: dict[str, type[Any]] = {
    CALENDAR: SupportCalendar,
    POLICY: SlaPolicy,
    CUSTOMER: Customer,
    SERVICE: Service,
    MONITOR: Monitor,
    WINDOW: MaintenanceWindow,
}


@dataclass
class Applied:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    # (monitor, path of its ping URL) for heartbeat monitors created
    heartbeats: list[tuple[str, str]] = field(default_factory=list)
    monitors_changed: bool = False


async def execute(session: AsyncSession, plan: Plan, *, now: datetime, recorded_by: str) -> Applied:
    """Write ``plan`` (free of problems and refusals) in ``session``'s transaction;
    the caller commits. ``now`` is the instant stored as created, recorded and
    announced; ``recorded_by`` names the writer on maintenance windows."""
    run = _Run(session, now, recorded_by)
    for change in plan.changes:  # what is stored already: the parents of new objects
        if change.stored is not None and change.action not in (DELETE, KEEP):
            run.ids[(change.kind, change.key)] = change.stored.id
    for kind in KINDS:
        written = [
            (change, await run.write(change))
            for change in plan.changes
            if change.kind == kind and change.action in (CREATE, UPDATE)
        ]
        await session.flush()  # one batch of INSERTs per kind, then their ids:
        for change, row in written:  # the next kind points at them
            run.ids[(change.kind, change.key)] = row.id
    await run.after_monitor_edits()
    deletions = [change for change in plan.changes if change.action == DELETE]
    run.applied.monitors_changed = any(
        change.kind == MONITOR
        for change in plan.changes
        if change.action in (CREATE, UPDATE, DELETE)
    )
    for kind in reversed(KINDS):
        for change in deletions:
            if change.kind == kind:
                await run.delete(change)
        await session.flush()
    await run.after_deletions()
    return run.applied


class _Run:
    def __init__(self, session: AsyncSession, now: datetime, recorded_by: str) -> None:
        self.session = session
        self.now = now
        self.recorded_by = recorded_by[:100]
        self.applied = Applied()
        self.ids: dict[tuple[str, Key], int] = {}
        self.refold: list[int] = []
        self.recompute: list[tuple[int, int]] = []  # (service, monitor)
        self.deleted_services: set[int] = set()
        self.emptied_services: set[int] = set()  # lost a monitor: recompute the service

    async def row(self, change: Change) -> Any:
        assert change.stored is not None
        return await self.session.get(_MODELS[change.kind], change.stored.id)

    async def named(self, kind: str, name: str) -> int:
        """The id of the policy or calendar ``name``: declared ones were written first;
        an undeclared one is stored (the plan made sure of both, and that the name is
        not ambiguous)."""
        if (kind, (name,)) not in self.ids:
            model = _MODELS[kind]
            found = await self.session.scalar(select(model.id).where(model.name == name))
            assert found is not None
            self.ids[(kind, (name,))] = found
        return self.ids[(kind, (name,))]

    async def calendar_id(self, name: str | None) -> int | None:
        return None if name is None else await self.named(CALENDAR, name)

    def parent(self, kind: str, key: Key) -> int:
        return self.ids[(kind, key)]

    async def write(self, change: Change) -> Any:
        assert change.declared is not None
        model = change.declared.model
        if change.action == CREATE:
            self.applied.created += 1
        else:
            self.applied.updated += 1
        row: Any
        match change.kind:
            case "calendar":
                assert isinstance(model, SupportCalendarCreate)
                row = SupportCalendar(created_at=self.now) if change.action == CREATE else None
                row = row or await self.row(change)
                for name, value in model.model_dump().items():  # app/api/support.py
                    setattr(row, name, value)
            case "policy":
                assert isinstance(model, SlaPolicyCreate)
                row = SlaPolicy(created_at=self.now) if change.action == CREATE else None
                row = row or await self.row(change)
                columns = policy_columns(model)
                if "support_targets" in columns:  # each calendar named in the file
                    named = change.declared.fields["support_targets"]
                    columns["support_targets"] = [
                        target | {"calendar_id": await self.calendar_id(name["calendar"])}
                        for target, name in zip(columns["support_targets"], named, strict=True)
                    ]
                for name, value in columns.items():
                    setattr(row, name, value)
            case "customer":
                assert isinstance(model, CustomerCreate)
                row = Customer(created_at=self.now) if change.action == CREATE else None
                row = row or await self.row(change)
                for name, value in model.model_dump().items():  # app/api/customers.py
                    setattr(row, name, value)
            case "service":
                assert isinstance(model, ServiceCreate)
                row = await self.service(change, model)
            case "monitor":
                assert isinstance(model, MonitorCreate)
                row = await self.monitor(change, model)
            case _:
                assert isinstance(model, MaintenanceWindowCreate)
                row = await self.window(change, model)
        self.session.add(row)
        return row

    async def service(self, change: Change, model: ServiceCreate) -> Service:
        """app/api/services.py: created with its start defaulting to now; a patch
        without a start keeps it; the customer never changes."""
        assert change.declared is not None
        values = model.model_dump()
        values["customer_id"] = self.parent(CUSTOMER, change.key[:1])
        values["policy_id"] = await self.named(POLICY, change.declared.fields["policy"])
        if change.action == CREATE:
            created = Service(**values, created_at=self.now)
            created.starts_at = model.starts_at or self.now
            return created
        service: Service = await self.row(change)
        for name, value in values.items():
            if name != "customer_id" and (name != "starts_at" or value is not None):
                setattr(service, name, value)
        return service

    async def monitor(self, change: Change, model: MonitorCreate) -> Monitor:
        """app/api/monitors.py: fields and options set as on create, a heartbeat
        monitor's ping token made once; an edit of the confirmations re-folds the
        history and one of the quorum recomputes the state changes."""
        service_id = self.parent(SERVICE, change.key[:2])
        if change.action == CREATE:
            monitor = Monitor(created_at=self.now)
            if model.kind == "heartbeat":
                monitor.heartbeat_token = secrets.token_urlsafe(24)
                self.applied.heartbeats.append(
                    (label(MONITOR, change.key), f"/heartbeat/{monitor.heartbeat_token}")
                )
        else:
            monitor = await self.row(change)
            changed = {name for name, _, _ in change.diffs}
            if "failure_confirmations" in changed:
                self.refold.append(monitor.id)
            if "quorum" in changed:
                self.recompute.append((service_id, monitor.id))
        for name, value in model.model_dump(exclude=set(ALL_OPTIONS)).items():
            setattr(monitor, name, value)
        monitor.service_id = service_id
        monitor.options = model.options()
        monitor.updated_at = edit_stamp()  # the agents' assignment version sums these
        return monitor

    async def window(self, change: Change, model: MaintenanceWindowCreate) -> MaintenanceWindow:
        """app/api/maintenance.py: announced when recorded unless an earlier
        ``announced_at`` is given (an admin import); re-announced now when stretched."""
        if change.action == CREATE:
            announced_at = model.announced_at or self.now
            return MaintenanceWindow(
                service_id=self.parent(SERVICE, change.key[:2]),
                title=model.title,
                starts_at=model.starts_at,
                ends_at=model.ends_at,
                announced_at=announced_at,
                recorded_at=self.now,
                imported=announced_at < self.now,
                recorded_by=self.recorded_by,
            )
        window: MaintenanceWindow = await self.row(change)
        shrunk = model.starts_at >= window.starts_at and model.ends_at <= window.ends_at
        if not shrunk:
            window.announced_at = window.recorded_at = self.now
            window.imported = False
            window.recorded_by = self.recorded_by
        window.title, window.starts_at, window.ends_at = model.title, model.starts_at, model.ends_at
        return window

    async def after_monitor_edits(self) -> None:
        for monitor_id in self.refold:
            await refold_monitor(self.session, monitor_id)
        for service_id, monitor_id in self.recompute:
            await recompute_history(self.session, service_id, monitor_id)

    async def delete(self, change: Change) -> None:
        """app/api/*.py's DELETE: a monitor's results and timeline go with it (and its
        service's state changes are recomputed), a service's state changes too."""
        assert change.stored is not None
        row = await self.row(change)
        await self.session.delete(row)
        self.applied.deleted += 1
        if change.kind == MONITOR:
            await self.session.flush()  # its segments go with it (ON DELETE CASCADE)
            await forget(self.session, MONITOR_SUBJECT, change.stored.id)
            self.emptied_services.add(row.service_id)
        elif change.kind == SERVICE:
            await self.session.flush()
            await forget(self.session, SERVICE_SUBJECT, change.stored.id)
            self.deleted_services.add(change.stored.id)

    async def after_deletions(self) -> None:
        for service_id in sorted(self.emptied_services - self.deleted_services):
            await recompute_history(self.session, service_id, None)


def policy_columns(model: SlaPolicyCreate) -> dict[str, Any]:
    """app/api/policies.py: tiers stored sorted, as decimal strings (no float)."""
    values = model.model_dump()
    values["credit_tiers"] = [
        {key: str(plain_decimal(value)) for key, value in tier.items()}
        for tier in sorted(values["credit_tiers"], key=lambda t: t["from_percent"])
    ]
    return values
