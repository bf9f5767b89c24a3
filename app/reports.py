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
from sqlalchemy.orm import joinedload

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
from app.sla.calendar import Month, from_epoch, month_period, to_epoch
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

# The fields of a statement that are figures (what an adjustment compares).
FIGURE_FIELDS = (
    "uptime_percent",
    "downtime_seconds",
    "excused_seconds",
    "no_data_seconds",
    "coverage_percent",
    "breached",
    "needs_review",
    "credit_percent",
    "credit_amount",
    "downtime_periods",
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
class ServiceMonth:
    service: Service
    month: Month
    figures: MonthFigures


def services_query() -> Any:
    return select(Service).options(joinedload(Service.customer), joinedload(Service.policy))


async def compute_months(
    session: AsyncSession, services: Sequence[Service], month: Month, now: datetime
) -> list[ServiceMonth]:
    """The month's figures for each service, from stored segments (fold first)."""
    if not services:
        return []
    ids = [s.id for s in services]
    every = len(ids) > 500  # past this, filter in Python rather than a huge IN list
    plans = {}
    for service in services:
        period = month_period(month, service.customer.timezone)
        policy = to_policy(service.policy)
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
    for monitor_id, location, start, end, failing in await session.execute(
        segment_query.order_by(LocationSegment.start)
    ):
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
                starts_at=to_epoch(service.starts_at),
                ends_at=to_epoch(service.ends_at) if service.ends_at else None,
                states=states,
                maintenance=windows[service.id],
                now=at,
            )
        )
        out.append(ServiceMonth(service, month, figures))
    return out


def percent_text(value: Fraction) -> str:
    """A percent as a decimal string: exact when it has at most 4 decimals, else
    truncated to 4 ('10', '2.7777')."""
    return str(plain_decimal(Decimal(truncate(value))))


def utc_text(instant: int) -> str:
    return from_epoch(instant).isoformat().replace("+00:00", "Z")


def figures_document(item: ServiceMonth) -> dict[str, Any]:
    """The SLA figures of API_CONTRACT.md as JSON-ready values (no status)."""
    service, figures = item.service, item.figures
    return {
        "service_id": service.id,
        "service_slug": service.slug,
        "customer_id": service.customer_id,
        "customer_slug": service.customer.slug,
        "month": str(item.month),
        "timezone": service.customer.timezone,
        "period_start": utc_text(figures.period[0]),
        "period_end": utc_text(figures.period[1]),
        "target_percent": str(service.policy.target_percent),
        "uptime_percent": truncate(figures.uptime) if figures.uptime is not None else None,
        "downtime_seconds": figures.downtime_seconds,
        "excused_seconds": figures.excused_seconds,
        "no_data_seconds": figures.no_data_seconds,
        "coverage_percent": truncate(figures.coverage),
        "breached": figures.breached,
        "needs_review": figures.needs_review,
        "credit_percent": percent_text(figures.credit_percent),
        "credit_amount": str(figures.credit_amount),
        "currency": service.currency,
        "downtime_periods": [
            {"start": utc_text(s), "end": utc_text(e), "seconds": e - s}
            for s, e in figures.downtime_periods
        ],
    }


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


def existed_in(service: Service, month: Month) -> bool:
    start, end = month_period(month, service.customer.timezone)
    begins = to_epoch(service.starts_at)
    ends = to_epoch(service.ends_at) if service.ends_at else None
    return begins < end and (ends is None or ends > start)


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
    services = [s for s in await session.scalars(services_query()) if existed_in(s, month)]
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
