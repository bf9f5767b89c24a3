"""Monthly SLA figures from stored state: load, compute (app.sla), and freeze.

A month's report for any number of services reads the services, their monitors,
the stored segments overlapping the month and the maintenance windows: four queries,
a handful of rows per monitor, never the raw results.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import plain_decimal
from app.models import (
    ClosedMonth,
    Customer,
    LocationSegment,
    MaintenanceWindow,
    Monitor,
    Service,
    SlaPolicy,
    Statement,
)
from app.schemas.sla import Figures
from app.sla.calendar import Month, from_epoch, month_period, to_epoch, utc_text
from app.sla.policy import (
    CreditFormula,
    CreditTier,
    ExistencePolicy,
    MaintenancePolicy,
    NoDataPolicy,
    Policy,
)
from app.sla.timeline import Segment, monitor_states, service_states
from app.sla.uptime import (
    Maintenance,
    MonthFigures,
    MonthInput,
    evaluation_window,
    month_figures,
    truncate,
)


def to_policy(model: SlaPolicy) -> Policy:
    return Policy(
        target_percent=model.target_percent,
        credit_tiers=tuple(
            CreditTier(
                Decimal(t["from_percent"]), Decimal(t["to_percent"]), Decimal(t["credit_percent"])
            )
            for t in model.credit_tiers
        ),
        credit_formula=CreditFormula(model.credit_formula),
        hourly_multiplier=model.hourly_multiplier,
        percent_per_hour=model.percent_per_hour,
        credit_cap_percent=model.credit_cap_percent,
        min_credit_amount=model.min_credit_amount,
        prorate_fee=model.prorate_fee,
        min_downtime_seconds=model.min_downtime_seconds,
        maintenance_notice_seconds=model.maintenance_notice_seconds,
        maintenance_policy=MaintenancePolicy(model.maintenance_policy),
        no_data_policy=NoDataPolicy(model.no_data_policy),
        existence_policy=ExistencePolicy(model.existence_policy),
    )


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """What a report needs of a service, loaded in one Core query (no ORM objects:
    a month's credits load thousands of these)."""

    id: int
    slug: str
    customer_id: int
    customer_slug: str
    timezone: str
    policy_id: int
    monthly_fee: Decimal
    currency: str
    starts_at: int
    ends_at: int | None


@dataclass(frozen=True, slots=True)
class ServiceMonth:
    service: ServiceInfo
    month: Month
    policy: Policy
    figures: MonthFigures


async def load_services(
    session: AsyncSession,
    *,
    service_ids: Sequence[int] | None = None,
    customer_id: int | None = None,
) -> list[ServiceInfo]:
    query = (
        select(
            Service.id,
            Service.slug,
            Service.customer_id,
            Customer.slug,
            Customer.timezone,
            Service.policy_id,
            Service.monthly_fee,
            Service.currency,
            Service.starts_at,
            Service.ends_at,
        )
        .join(Customer, Customer.id == Service.customer_id)
        .order_by(Service.customer_id, Service.id)
    )
    if service_ids is not None:
        query = query.where(Service.id.in_(service_ids))
    if customer_id is not None:
        query = query.where(Service.customer_id == customer_id)
    return [
        ServiceInfo(
            id=row[0],
            slug=row[1],
            customer_id=row[2],
            customer_slug=row[3],
            timezone=row[4],
            policy_id=row[5],
            monthly_fee=row[6],
            currency=row[7],
            starts_at=to_epoch(row[8]),
            ends_at=to_epoch(row[9]) if row[9] is not None else None,
        )
        for row in await session.execute(query)
    ]


async def compute_months(
    session: AsyncSession, services: Sequence[ServiceInfo], month: Month, now: datetime
) -> list[ServiceMonth]:
    """The month's figures for each service, from stored segments (fold first)."""
    if not services:
        return []
    ids = [s.id for s in services]
    every = len(ids) > 500  # past this, filter in Python rather than a huge IN list
    policy_ids = {s.policy_id for s in services}
    policies = {
        p.id: to_policy(p)
        for p in await session.scalars(select(SlaPolicy).where(SlaPolicy.id.in_(policy_ids)))
    }
    plans = {}
    for service in services:
        period = month_period(month, service.timezone)
        policy = policies[service.policy_id]
        plans[service.id] = (period, policy, evaluation_window(period, policy))
    lo = min(window[0] for _, _, window in plans.values())
    hi = max(window[1] for _, _, window in plans.values())

    monitor_query = select(Monitor.id, Monitor.service_id, Monitor.quorum)
    segment_query = select(
        LocationSegment.monitor_id,
        LocationSegment.location,
        LocationSegment.start,
        LocationSegment.end,
        LocationSegment.failing,
    ).where(LocationSegment.end > lo, LocationSegment.start < hi)
    window_query = select(
        MaintenanceWindow.service_id,
        MaintenanceWindow.starts_at,
        MaintenanceWindow.ends_at,
        MaintenanceWindow.announced_at,
    ).where(
        MaintenanceWindow.ends_at > from_epoch(lo), MaintenanceWindow.starts_at < from_epoch(hi)
    )
    if not every:
        monitor_query = monitor_query.where(Monitor.service_id.in_(ids))
        segment_query = segment_query.join(Monitor).where(Monitor.service_id.in_(ids))
        window_query = window_query.where(MaintenanceWindow.service_id.in_(ids))

    monitors: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for monitor_id, service_id, quorum in await session.execute(monitor_query):
        monitors[service_id].append((monitor_id, quorum))
    segments: dict[int, dict[str, list[Segment]]] = defaultdict(lambda: defaultdict(list))
    # No ORDER BY: the quorum sweep and interval algebra do not need sorted input.
    for monitor_id, location, start, end, failing in await session.execute(segment_query):
        segments[monitor_id][location].append(Segment(start, end, failing))
    windows: dict[int, list[Maintenance]] = defaultdict(list)
    for service_id, starts_at, ends_at, announced_at in await session.execute(window_query):
        windows[service_id].append(
            Maintenance(to_epoch(starts_at), to_epoch(ends_at), to_epoch(announced_at))
        )

    at = to_epoch(now)
    out = []
    for service in services:
        period, policy, window = plans[service.id]
        states = service_states(
            [
                monitor_states(list(segments[monitor_id].values()), quorum, window)
                for monitor_id, quorum in monitors[service.id]
            ],
            window,
        )
        figures = month_figures(
            MonthInput(
                period=period,
                policy=policy,
                monthly_fee=service.monthly_fee,
                starts_at=service.starts_at,
                ends_at=service.ends_at,
                states=states,
                maintenance=windows[service.id],
                now=at,
            )
        )
        out.append(ServiceMonth(service, month, policy, figures))
    return out


def percent_text(value: Fraction) -> str:
    """A percent as a decimal string: exact when it has at most 4 decimals, else
    truncated to 4 ('10', '2.7777')."""
    return str(plain_decimal(Decimal(truncate(value))))


def credit_row(item: ServiceMonth) -> dict[str, Any]:
    """What billing lists per service: the credit fields of the figures, cheap to build
    for thousands of services (no timestamps to format)."""
    service, figures = item.service, item.figures
    return {
        "customer_id": service.customer_id,
        "customer_slug": service.customer_slug,
        "service_id": service.id,
        "service_slug": service.slug,
        "uptime_percent": truncate(figures.uptime) if figures.uptime is not None else None,
        "target_percent": str(plain_decimal(item.policy.target_percent)),
        "breached": figures.breached,
        "needs_review": figures.needs_review,
        "credit_percent": percent_text(figures.credit_percent),
        "credit_amount": str(figures.credit_amount),
        "currency": service.currency,
    }


def figures_document(item: ServiceMonth) -> dict[str, Any]:
    """The SLA figures of API_CONTRACT.md as JSON-ready values (no status)."""
    figures = item.figures
    return {
        **credit_row(item),
        "month": str(item.month),
        "timezone": item.service.timezone,
        "period_start": utc_text(figures.period[0]),
        "period_end": utc_text(figures.period[1]),
        "downtime_seconds": figures.downtime_seconds,
        "excused_seconds": figures.excused_seconds,
        "no_data_seconds": figures.no_data_seconds,
        "coverage_percent": truncate(figures.coverage),
        "downtime_periods": [
            {"start": utc_text(s), "end": utc_text(e), "seconds": e - s}
            for s, e in figures.downtime_periods
        ],
    }


# The fields of a statement that are figures (what an adjustment compares).
FIGURE_FIELDS = tuple(Figures.model_fields)


def digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def adjustment(closed: dict[str, Any], current: dict[str, Any]) -> dict[str, Any] | None:
    """What the figures of a closed month would be now, if anything changed."""
    if all(closed.get(f) == current.get(f) for f in FIGURE_FIELDS):
        return None
    delta = Decimal(current["credit_amount"]) - Decimal(closed["credit_amount"])
    return {
        **{f: current[f] for f in FIGURE_FIELDS},
        "credit_amount_delta": str(delta),
    }


async def statements_for(
    session: AsyncSession, month: Month, service_ids: Sequence[int] | None = None
) -> dict[int, Statement]:
    query = select(Statement).where(Statement.month == str(month))
    if service_ids is not None and len(service_ids) <= 500:
        query = query.where(Statement.service_id.in_(service_ids))
    return {s.service_id: s for s in await session.scalars(query)}


def existed_in(service: ServiceInfo, month: Month) -> bool:
    start, end = month_period(month, service.timezone)
    return service.starts_at < end and (service.ends_at is None or service.ends_at > start)


class MonthNotOver(ValueError):
    pass


async def close_month(
    session: AsyncSession, month: Month, now: datetime, closed_by: str
) -> tuple[int, bool]:
    """Freeze the month: a statement for every service that existed in it.

    Returns (statements written now, whether the month was already closed). Closing
    again writes only what is missing (e.g. a service backdated into the month).
    """
    at = to_epoch(now)
    customers = list(await session.scalars(select(Customer)))
    for customer in customers:
        end = month_period(month, customer.timezone)[1]
        if end > at:
            raise MonthNotOver(
                f"{month} has not ended yet for customer {customer.slug!r} "
                f"({customer.timezone}); it ends at {utc_text(end)}"
            )
    services = [s for s in await load_services(session) if existed_in(s, month)]
    existing = await statements_for(session, month)
    missing = [s for s in services if s.id not in existing]
    for item in await compute_months(session, missing, month, now):
        content = figures_document(item)
        session.add(
            Statement(
                service_id=item.service.id,
                month=str(month),
                content=content,
                digest=digest(content),
                closed_at=now,
            )
        )
    already = await session.get(ClosedMonth, str(month)) is not None
    if not already:
        session.add(ClosedMonth(month=str(month), closed_at=now, closed_by=closed_by))
    return len(missing), already
