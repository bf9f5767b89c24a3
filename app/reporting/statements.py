"""Closed months: the statement format, its digest, adjustments, and closing a month.

A statement is a money record, so it has its own versioned format, independent of the
API's JSON: adding a field to an API response must never make a closed month look
adjusted. Format 2 (``STATEMENT_FORMAT``) freezes the service's identity, the period,
the contract terms in force (policy, fee, currency, the service's life, the monitors
with their quorum and failure confirmations, the maintenance windows) and the
figures under ``FIGURE_FIELDS``. (Statements closed before the confirmations were
frozen lack them; their adjustments use the stored timeline as it is.) Format 1
statements (written before, they are the API's SLA document of the time) still read:
``read_statement`` gives both one shape.
The digest is the SHA-256 of the canonical JSON of the stored content, whatever its
format.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import plain_decimal
from app.models import ClosedMonth, Customer, Monitor, Statement
from app.reporting.compute import ServiceMonth, compute_months
from app.reporting.load import ServiceInfo, load_services
from app.sla.intervals import Interval
from app.sla.periods import Month, month_period, to_epoch, utc_text
from app.sla.uptime import MonthFigures, truncate

STATEMENT_FORMAT = 2

# The frozen figures, in the statement's own names and encodings: what an adjustment
# compares. Changing this list or an encoding means a new STATEMENT_FORMAT.
FIGURE_FIELDS = (
    "uptime_percent",  # truncated to 4 decimals, or None when nothing was measurable
    "downtime_seconds",
    "excused_seconds",
    "no_data_seconds",
    "coverage_percent",  # truncated to 4 decimals
    "breached",
    "needs_review",
    "credit_percent",  # exact up to 4 decimals, else truncated
    "credit_amount",  # 2 decimals
    "downtime_periods",  # [[start, end], ...] in epoch seconds
)


def percent_text(value: Any) -> str:
    """A percent as a decimal string: exact when it has at most 4 decimals, else
    truncated to 4 ('10', '2.7777')."""
    return str(plain_decimal(Decimal(truncate(value))))


def frozen_figures(figures: MonthFigures) -> dict[str, Any]:
    """The figures as a statement stores them."""
    return {
        "uptime_percent": truncate(figures.uptime) if figures.uptime is not None else None,
        "downtime_seconds": figures.downtime_seconds,
        "excused_seconds": figures.excused_seconds,
        "no_data_seconds": figures.no_data_seconds,
        "coverage_percent": truncate(figures.coverage),
        "breached": figures.breached,
        "needs_review": figures.needs_review,
        "credit_percent": percent_text(figures.credit_percent),
        "credit_amount": str(figures.credit_amount),
        "downtime_periods": [[start, end] for start, end in figures.downtime_periods],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(plain_decimal(value))
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def statement_content(
    item: ServiceMonth, confirmations: Mapping[int, int] | None = None
) -> dict[str, Any]:
    """A format-2 statement of a service's month. ``confirmations`` (monitor id ->
    failure confirmations at the close) are frozen with each monitor's quorum: the
    fold depends on them, so an adjustment refolds under them if they change."""
    known = confirmations or {}
    service = item.service
    return {
        "format": STATEMENT_FORMAT,
        "service": {
            "id": service.id,
            "slug": service.slug,
            "customer_id": service.customer_id,
            "customer_slug": service.customer_slug,
        },
        "month": str(item.month),
        "timezone": service.timezone,
        "period": list(item.figures.period),
        # The contract as it stood at the close, so the month can be explained (and
        # re-evaluated on late data) without today's catalog.
        "terms": {
            "policy": _plain(asdict(item.policy)),
            "monthly_fee": str(plain_decimal(service.monthly_fee)),
            "currency": service.currency,
            "service_starts_at": service.starts_at,
            "service_ends_at": service.ends_at,
            "monitors": [
                {"id": m, "quorum": q, **({"confirmations": known[m]} if m in known else {})}
                for m, q in item.monitors
            ],
            "maintenance": [[w.start, w.end, w.announced_at] for w in item.maintenance],
        },
        "figures": frozen_figures(item.figures),
    }


@dataclass(frozen=True, slots=True)
class FrozenStatement:
    """A stored statement of any format, in one shape."""

    format: int
    service_id: int
    service_slug: str
    customer_id: int
    customer_slug: str
    month: str
    timezone: str
    period: Interval
    target_percent: str
    currency: str
    figures: dict[str, Any]


def freeze(item: ServiceMonth) -> FrozenStatement:
    """An open month in the shape of a statement, so both render through one path."""
    service = item.service
    return FrozenStatement(
        format=STATEMENT_FORMAT,
        service_id=service.id,
        service_slug=service.slug,
        customer_id=service.customer_id,
        customer_slug=service.customer_slug,
        month=str(item.month),
        timezone=service.timezone,
        period=item.figures.period,
        target_percent=str(plain_decimal(item.policy.target_percent)),
        currency=service.currency,
        figures=frozen_figures(item.figures),
    )


def _epoch(text: str) -> int:
    return to_epoch(datetime.fromisoformat(text.replace("Z", "+00:00")))


def read_statement(content: dict[str, Any]) -> FrozenStatement:
    if content.get("format") == STATEMENT_FORMAT:
        service, terms = content["service"], content["terms"]
        return FrozenStatement(
            format=STATEMENT_FORMAT,
            service_id=service["id"],
            service_slug=service["slug"],
            customer_id=service["customer_id"],
            customer_slug=service["customer_slug"],
            month=content["month"],
            timezone=content["timezone"],
            period=(content["period"][0], content["period"][1]),
            target_percent=terms["policy"]["target_percent"],
            currency=terms["currency"],
            figures=content["figures"],
        )
    # Format 1: the API's SLA document as it was when the month closed.
    figures = {name: content[name] for name in FIGURE_FIELDS if name != "downtime_periods"}
    figures["downtime_periods"] = [
        [_epoch(p["start"]), _epoch(p["end"])] for p in content["downtime_periods"]
    ]
    return FrozenStatement(
        format=1,
        service_id=content["service_id"],
        service_slug=content["service_slug"],
        customer_id=content["customer_id"],
        customer_slug=content["customer_slug"],
        month=content["month"],
        timezone=content["timezone"],
        period=(_epoch(content["period_start"]), _epoch(content["period_end"])),
        target_percent=content["target_percent"],
        currency=content["currency"],
        figures=figures,
    )


def digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def adjustment(frozen: FrozenStatement, figures: MonthFigures) -> dict[str, Any] | None:
    """What a closed month's figures would be now (as statement figures), with the
    credit delta, if anything changed; None if nothing did. ``figures`` must come from
    late data under the statement's own terms (``app.reporting.adjustments``)."""
    now = frozen_figures(figures)
    if all(frozen.figures.get(name) == now[name] for name in FIGURE_FIELDS):
        return None
    delta = Decimal(now["credit_amount"]) - Decimal(frozen.figures["credit_amount"])
    return {**now, "credit_amount_delta": str(delta)}


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


async def month_figures_for(
    session: AsyncSession, services: Sequence[ServiceInfo], month: Month, now: datetime
) -> list[ServiceMonth]:
    """The month's figures of each service, starting where its previous month's
    statement ended: a time-zone change after a close neither overlaps the closed
    month (downtime paid twice) nor leaves a gap."""
    previous = await statements_for(session, month.previous(), [s.id for s in services])
    starts = {
        service_id: read_statement(statement.content).period[1]
        for service_id, statement in previous.items()
    }
    return await compute_months(session, services, month, now, starts)


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
    for customer in await session.scalars(select(Customer)):
        end = month_period(month, customer.timezone)[1]
        if end > at:
            raise MonthNotOver(
                f"{month} has not ended yet for customer {customer.slug!r} "
                f"({customer.timezone}); it ends at {utc_text(end)}"
            )
    services = [s for s in await load_services(session) if existed_in(s, month)]
    existing = await statements_for(session, month)
    missing = [s for s in services if s.id not in existing]
    confirmations: dict[int, int] = {
        monitor_id: count
        for monitor_id, count in await session.execute(
            select(Monitor.id, Monitor.failure_confirmations)
        )
    }
    for item in await month_figures_for(session, missing, month, now):
        content = statement_content(item, confirmations)
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
