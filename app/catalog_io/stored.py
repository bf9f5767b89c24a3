"""The stored catalog in the form a catalog file is compared in (``fields``).

Each row goes through its read model and then the create model, as a PATCH does
(``app/api/*.py``: the stored resource is validated as a create), so a stored object
and a declared one are normalised by the very same code. A row that today's rules
refuse (stored before a rule was added) is kept as read: the plan then shows what the
file changes, and the export writes it as it is, for the file to fix.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog_io.fields import (
    CALENDAR,
    CUSTOMER,
    MONITOR,
    POLICY,
    SERVICE,
    WINDOW,
    Key,
    calendar_fields,
    calendar_key,
    customer_fields,
    customer_key,
    label,
    monitor_fields,
    monitor_key,
    policy_fields,
    policy_key,
    service_fields,
    service_key,
    window_fields,
    window_key,
)
from app.catalog_io.plan import References, Stored
from app.db import Base
from app.models import (
    Customer,
    MaintenanceWindow,
    Monitor,
    Service,
    SlaPolicy,
    SupportCalendar,
)
from app.schemas.catalog import (
    CustomerCreate,
    CustomerRead,
    MaintenanceWindowCreate,
    ServiceCreate,
    ServiceRead,
    SlaPolicyCreate,
    SlaPolicyRead,
)
from app.schemas.monitors import ALL_OPTIONS, MonitorCreate
from app.schemas.support import SupportCalendarCreate, SupportCalendarRead


@dataclass
class StoredCatalog:
    items: list[Stored] = field(default_factory=list)
    # Rows today's create rules refuse, named: read as they are.
    unvalidated: list[str] = field(default_factory=list)


async def read_catalog(session: AsyncSession) -> StoredCatalog:
    """Every policy, customer, service, monitor and maintenance window."""
    out = StoredCatalog()
    calendars: dict[int, str] = {}
    for calendar in await session.scalars(select(SupportCalendar).order_by(SupportCalendar.id)):
        read = SupportCalendarRead.model_validate(calendar).model_dump()
        where = label(CALENDAR, (calendar.name,))
        values = calendar_fields(_normal(out, SupportCalendarCreate, read, where))
        calendars[calendar.id] = calendar.name
        out.items.append(Stored(CALENDAR, calendar_key(values), values, calendar.id))

    policies: dict[int, str] = {}
    for policy in await session.scalars(select(SlaPolicy).order_by(SlaPolicy.id)):
        read = SlaPolicyRead.model_validate(policy).model_dump(exclude={"id"})
        where = label(POLICY, (policy.name,))
        values = policy_fields(_normal(out, SlaPolicyCreate, read, where), calendars)
        policies[policy.id] = policy.name
        out.items.append(Stored(POLICY, policy_key(values), values, policy.id))

    customers: dict[int, str] = {}
    for customer in await session.scalars(select(Customer).order_by(Customer.id)):
        read = CustomerRead.model_validate(customer).model_dump(exclude={"id"})
        where = label(CUSTOMER, (customer.slug,))
        values = customer_fields(_normal(out, CustomerCreate, read, where))
        customers[customer.id] = customer.slug
        out.items.append(Stored(CUSTOMER, customer_key(values), values, customer.id))

    services: dict[int, Key] = {}
    for service in await session.scalars(select(Service).order_by(Service.id)):
        read = ServiceRead.model_validate(service).model_dump(exclude={"id"})
        customer_slug = customers[service.customer_id]
        where = label(SERVICE, (customer_slug, service.slug))
        values = service_fields(
            _normal(out, ServiceCreate, read, where), policies[service.policy_id]
        )
        key = service_key(customer_slug, values)
        services[service.id] = key
        out.items.append(Stored(SERVICE, key, values, service.id))

    for monitor in await session.scalars(select(Monitor).order_by(Monitor.id)):
        # As app/api/monitors.py reads a monitor for a PATCH: options at the top level.
        read = {
            name: getattr(monitor, name)
            for name in MonitorCreate.model_fields
            if name not in ALL_OPTIONS
        } | dict(monitor.options)
        parent = services[monitor.service_id]
        where = label(MONITOR, (*parent, monitor.name))
        values = monitor_fields(_normal(out, MonitorCreate, read, where))
        out.items.append(Stored(MONITOR, monitor_key(parent, values), values, monitor.id))

    windows = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
    for window in await session.scalars(windows):
        read = {
            "service_id": window.service_id,
            "title": window.title,
            "starts_at": window.starts_at,
            "ends_at": window.ends_at,
            "announced_at": window.announced_at,
        }
        parent = services[window.service_id]
        where = f"maintenance window {parent[0]}/{parent[1]} {window.title!r}"
        values = window_fields(_normal(out, MaintenanceWindowCreate, read, where))
        out.items.append(Stored(WINDOW, window_key(parent, values), values, window.id))
    return out


def _normal(
    out: StoredCatalog, model: type[BaseModel], read: dict[str, Any], where: str
) -> dict[str, Any]:
    """The row's fields as its create model makes them, or as read if it refuses them."""
    given = {name: value for name, value in read.items() if name in model.model_fields}
    try:
        return model.model_validate(given).model_dump()
    except ValidationError as exc:
        problems = "; ".join(
            ".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors()
        )
        out.unvalidated.append(f"stored {where} fails today's rules ({problems})")
        return given


TABLES = {
    CALENDAR: "support_calendars",
    POLICY: "sla_policies",
    CUSTOMER: "customers",
    SERVICE: "services",
    MONITOR: "monitors",
    WINDOW: "maintenance_windows",
}
# Links between catalog objects, which the plan itself orders (children are deleted
# before their parents) or checks (a policy still used).
_CATALOG_LINKS = {
    ("services", "customer_id"),
    ("services", "policy_id"),
    ("monitors", "service_id"),
    ("maintenance_windows", "service_id"),
}


async def references(
    session: AsyncSession, doomed: list[tuple[str, int]]
) -> dict[tuple[str, int], References]:
    """For each (kind, id) to delete, the rows of other tables that point at it, found
    from the models' foreign keys (so a table added later is counted too): those whose
    key restricts the deletion (statements, incidents) and those deleted with it
    (results, API keys, notification channels)."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for kind, ident in doomed:
        wanted[TABLES[kind]].append(ident)
    kind_of = {table: kind for kind, table in TABLES.items()}
    blocking: dict[tuple[str, int], list[str]] = defaultdict(list)
    cascading: dict[tuple[str, int], list[str]] = defaultdict(list)
    for table in Base.metadata.sorted_tables:
        for key in sorted(table.foreign_keys, key=lambda k: k.parent.name):
            target = key.column.table.name
            if not wanted.get(target) or (table.name, key.parent.name) in _CATALOG_LINKS:
                continue
            what = table.name.replace("_", " ")
            cascades = (key.ondelete or "").upper() in ("CASCADE", "SET NULL")
            for chunk in _chunks(wanted[target]):
                rows = await session.execute(
                    select(key.parent, func.count())
                    .where(key.parent.in_(chunk))
                    .group_by(key.parent)
                )
                for ident, count in rows:
                    found = cascading if cascades else blocking
                    found[(kind_of[target], ident)].append(f"{count:,} {what}")
    return {
        item: References(tuple(blocking.get(item, ())), tuple(cascading.get(item, ())))
        for item in set(blocking) | set(cascading)
    }


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]
