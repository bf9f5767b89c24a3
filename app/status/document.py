"""A customer's status document: the JSON twin of the status page, which the page, the
feed and the badges are rendered from (API_CONTRACT.md, "Customers' views").

Everything comes from the stored timeline (segments, maintenance windows) through the
same pure steps as billing's months (``app.reporting.compute``): the service states
are computed once over the last 90 days and every calendar day goes through
``month_figures``, so a day's uptime follows the rules a month's does. Month to date
comes from the current-month figures cache. Raw results are read only for the
warnings of the latest checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import plain_decimal
from app.incidents.report import incidents_between, open_incidents
from app.models import CheckResult, Customer, MaintenanceWindow, Monitor, Service
from app.reporting.cache import CurrentMonthFigures
from app.reporting.compute import FiguresMemo, ServiceMonth, series_figures, stored_states
from app.reporting.load import ServiceInfo, load_policies, load_services, load_state
from app.reporting.statements import month_figures_for
from app.sla.intervals import Interval
from app.sla.periods import from_epoch, month_of, utc_text
from app.sla.timeline import States
from app.sla.uptime import MonthFigures, evaluation_window, truncate
from app.status.days import last_days

DAYS = 90
# How far back the latest checks are looked for, for warnings (a slow response, a
# certificate expiring): a monitor checked less often shows no warning.
WARNING_LOOKBACK_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class CustomerRef:
    id: int
    slug: str
    name: str
    timezone: str
    private: bool


async def find_customer(session: AsyncSession, slug: str) -> CustomerRef | None:
    row = (
        await session.execute(
            select(
                Customer.id, Customer.slug, Customer.name, Customer.timezone, Customer.private
            ).where(Customer.slug == slug)
        )
    ).first()
    return CustomerRef(*row) if row is not None else None


# --- pure steps -------------------------------------------------------------------------


def state_at(states: States, instant: int) -> str:
    """``down``, ``no_data`` or ``up`` at ``instant``."""
    if any(start <= instant < end for start, end in states.down):
        return "down"
    if any(start <= instant < end for start, end in states.no_data):
        return "no_data"
    return "up"


def service_status(state: str, in_maintenance: bool, warned: bool) -> str:
    """What a customer reads about one service now. Maintenance comes first (an
    announced window explains what is seen), then the timeline's state; a passing
    check with a warning makes an up service degraded."""
    if in_maintenance:
        return "maintenance"
    if state == "down":
        return "down"
    if state == "no_data":
        return "no_data"
    return "degraded" if warned else "operational"


def overall_status(statuses: Sequence[str]) -> str:
    """The banner: a major outage when every service (not in maintenance) is down, a
    partial one when some are; then maintenance; then degraded when any service is
    degraded or not reporting."""
    active = [s for s in statuses if s != "maintenance"]
    if active and all(s == "down" for s in active):
        return "major_outage"
    if "down" in active:
        return "partial_outage"
    if "maintenance" in statuses:
        return "maintenance"
    if any(s in ("degraded", "no_data") for s in statuses):
        return "degraded"
    return "operational"


def percent(figures: MonthFigures) -> str | None:
    return truncate(figures.uptime) if figures.uptime is not None else None


def day_entry(day: date, figures: MonthFigures, lived: bool) -> dict[str, Any]:
    """One bar: the day's figures as a month's would be shown. ``lived`` is false
    for a day before the service started (or after it ended): no bar colour."""
    return {
        "date": day.isoformat(),
        "uptime_percent": percent(figures) if lived else None,
        "downtime_seconds": figures.downtime_seconds,
        "excused_seconds": figures.excused_seconds,
        "no_data_seconds": figures.no_data_seconds,
    }


def month_entry(item: ServiceMonth) -> dict[str, Any]:
    return {
        "month": str(item.month),
        "uptime_percent": percent(item.figures),
        "target_percent": str(plain_decimal(item.policy.target_percent)),
        "downtime_seconds": item.figures.downtime_seconds,
        "breached": item.figures.breached,
    }


def outage_entries(
    service: ServiceInfo, name: str, periods: Sequence[Interval], now: int
) -> list[dict[str, Any]]:
    """The downtime periods of the window as outages; one reaching ``now`` is ongoing."""
    return [
        {
            "kind": "outage",
            "service": service.slug,
            "service_name": name,
            "title": f"{name} was down" if end < now else f"{name} is down",
            "started_at": utc_text(start),
            "ended_at": utc_text(end) if end < now else None,
            "ongoing": end >= now,
            "duration_seconds": end - start,
            "priority": None,
            "state": None,
            "updates": [],
        }
        for start, end in periods
    ]


def incident_entry(
    incident: dict[str, Any], slugs: dict[int, str], names: dict[int, str], now: int
) -> dict[str, Any]:
    """An incident as the page lists it: public comments only, as its updates."""
    opened = _epoch(incident["opened_at"])
    resolved = _epoch(incident["resolved_at"]) if incident["resolved_at"] else None
    service_id = incident["service_id"]
    return {
        "kind": "incident",
        "service": slugs.get(service_id, ""),
        "service_name": names.get(service_id, ""),
        "title": incident["title"],
        "started_at": incident["opened_at"],
        "ended_at": incident["resolved_at"],
        "ongoing": resolved is None,
        "duration_seconds": (resolved if resolved is not None else now) - opened,
        "priority": incident["priority"],
        "state": incident["state"],
        "updates": [
            {"at": event["at"], "message": event["message"] or ""} for event in incident["events"]
        ],
    }


def covered(outage: dict[str, Any], incidents: Sequence[dict[str, Any]]) -> bool:
    """Whether an incident the monitors opened tells of this outage already (it began
    where the outage did, give or take the minimum downtime)."""
    start, end = _epoch(outage["started_at"]), _epoch(outage["ended_at"] or outage["started_at"])
    return any(
        i["source"] == "monitor"
        and i["outage_started_at"] is not None
        and i["service_id"] == outage["service_id"]
        and start - 3600 <= _epoch(i["outage_started_at"]) <= max(start, end)
        for i in incidents
    )


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def maintenance_state(start: int, end: int, now: int) -> str:
    if now < start:
        return "scheduled"
    return "in_progress" if now < end else "completed"


# --- loading ----------------------------------------------------------------------------


async def _names(session: AsyncSession, customer_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(Service.id, Service.name).where(Service.customer_id == customer_id)
    )
    return {service_id: name for service_id, name in rows}


async def _warned(session: AsyncSession, service_ids: Sequence[int], now: int) -> set[int]:
    """Services whose latest check at some location passed with a warning."""
    rows = await session.execute(
        select(
            Monitor.service_id,
            CheckResult.monitor_id,
            CheckResult.location,
            CheckResult.checked_at,
            CheckResult.ok,
            CheckResult.warning,
        )
        .join(Monitor, Monitor.id == CheckResult.monitor_id)
        .where(
            Monitor.service_id.in_(service_ids),
            Monitor.enabled.is_(True),
            CheckResult.checked_at >= now - WARNING_LOOKBACK_SECONDS,
        )
    )
    latest: dict[tuple[int, str], tuple[int, int, bool]] = {}
    for service_id, monitor_id, location, at, ok, warning in rows:
        key = (monitor_id, location)
        if key not in latest or at > latest[key][0]:
            latest[key] = (at, service_id, bool(ok and warning))
    return {service_id for _, service_id, warned in latest.values() if warned}


async def _maintenance(
    session: AsyncSession, names: dict[int, str], slugs: dict[int, str], since: int, now: int
) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(MaintenanceWindow)
        .where(
            MaintenanceWindow.service_id.in_(list(slugs)),
            MaintenanceWindow.ends_at > from_epoch(since),
        )
        .order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
    )
    entries = []
    for window in rows:
        start, end = int(window.starts_at.timestamp()), int(window.ends_at.timestamp())
        entries.append(
            {
                "service": slugs[window.service_id],
                "service_name": names[window.service_id],
                "title": window.title,
                "starts_at": utc_text(start),
                "ends_at": utc_text(end),
                "announced_at": utc_text(int(window.announced_at.timestamp())),
                "state": maintenance_state(start, end, now),
            }
        )
    return entries


async def _months(
    session: AsyncSession,
    services: Sequence[ServiceInfo],
    cache: CurrentMonthFigures | None,
    now: int,
) -> dict[int, ServiceMonth]:
    """Month to date per service: from the cache, computing what it does not hold
    (yet) or holds for another month (it rolled over since the last refresh)."""
    found: dict[int, ServiceMonth] = {}
    missing: list[ServiceInfo] = []
    for service in services:
        item = cache.get(service.id) if cache is not None else None
        if item is not None and item.month == month_of(now, service.timezone):
            found[service.id] = item
        else:
            missing.append(service)
    if missing:
        month = month_of(now, missing[0].timezone)  # one customer: one time zone
        for item in await month_figures_for(session, missing, month, from_epoch(now)):
            found[item.service.id] = item
    return found


async def status_document(
    session: AsyncSession,
    customer: CustomerRef,
    now: int,
    cache: CurrentMonthFigures | None = None,
    memo: FiguresMemo | None = None,
) -> dict[str, Any]:
    """Everything the status page shows, as of ``now``. ``memo`` remembers the days'
    figures between calls (only today's, and days late results reached, change)."""
    days = last_days(now, customer.timezone, DAYS)
    since, until = days[0][1][0], days[-1][1][1]
    every = await load_services(session, customer_id=customer.id)
    all_slugs = {s.id: s.slug for s in every}
    services = [
        s for s in every if s.starts_at < until and (s.ends_at is None or s.ends_at > since)
    ]
    names = await _names(session, customer.id)
    slugs = {s.id: s.slug for s in services}
    policies = await load_policies(session, {s.policy_id for s in services})
    span = (since, until)
    if services:
        margins = [evaluation_window(span, policies[s.policy_id]) for s in services]
        span = (min(w[0] for w in margins), max(w[1] for w in margins))
    state = await load_state(session, list(slugs), span)
    months = await _months(session, services, cache, now)
    warned = await _warned(session, list(slugs), now) if services else set()
    maintenance = await _maintenance(session, names, slugs, since, now) if services else []
    in_maintenance = {m["service"] for m in maintenance if m["state"] == "in_progress"}

    entries: list[dict[str, Any]] = []
    outages: list[dict[str, Any]] = []
    for service in services:
        policy = policies[service.policy_id]
        states = stored_states(state, service, span)
        life_end = service.ends_at if service.ends_at is not None else until
        *daily, window = series_figures(
            state,
            service,
            policy,
            [period for _, period in days] + [(since, until)],
            now,
            states,
            memo,
        )
        bars = [
            day_entry(day, figures, service.starts_at < period[1] and life_end > period[0])
            for (day, period), figures in zip(days, daily, strict=True)
        ]
        status = service_status(
            state_at(states, now - 1) if service.starts_at < now else "no_data",
            service.slug in in_maintenance,
            service.id in warned,
        )
        entries.append(
            {
                "slug": service.slug,
                "name": names[service.id],
                "status": status,
                "month": month_entry(months[service.id]),
                "window": {
                    "uptime_percent": percent(window),
                    "downtime_seconds": window.downtime_seconds,
                },
                "days": bars,
            }
        )
        outages += [
            {**outage, "service_id": service.id}
            for outage in outage_entries(service, names[service.id], window.downtime_periods, now)
        ]
    # Incidents opened in the window, and any still open from before: public
    # comments only. An outage an incident already tells of is listed once.
    moment = from_epoch(now)
    found = {
        i["id"]: i
        for i in [
            *await incidents_between(
                session, customer.id, from_epoch(since), from_epoch(until), moment, public_only=True
            ),
            *await open_incidents(session, customer.id, moment, public_only=True),
        ]
    }
    incidents = sorted(found.values(), key=lambda i: i["opened_at"])
    listed = [
        {k: v for k, v in outage.items() if k != "service_id"}
        for outage in outages
        if not covered(outage, incidents)
    ]
    listed += [incident_entry(i, all_slugs, names, now) for i in incidents]
    listed.sort(key=lambda o: o["started_at"], reverse=True)
    return {
        "customer": {"slug": customer.slug, "name": customer.name},
        "timezone": customer.timezone,
        "as_of": utc_text(now),
        "status": overall_status([e["status"] for e in entries]),
        "services": entries,
        "incidents": listed,
        "maintenance": maintenance,
    }


def uptime_decimal(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None else None
