"""What the monthly SLA report, the customer's status page and
``GET /api/v1/customers/{id}/support`` read of incidents: a customer's support
compliance for a month, and its incidents as documents (the API's shape).

- ``month_support(session, customer_id, month, now) -> SupportMonth``
  (``.as_dict()`` is the API's ``{customer_id, month, target_percent, respond,
  resolve, by_priority}``)
- ``month_incidents(session, customer_id, month, now, public_only=False)`` -> the
  incidents opened in the customer's calendar month, oldest first
- ``open_incidents(session, customer_id, now, public_only=False)`` -> those not
  resolved, oldest first
- ``incidents_between(session, customer_id, start, end, now, public_only=False)``

``now`` is an aware datetime. With ``public_only`` each incident's events are its
public comments alone, without who wrote them (for the status page).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import plain_decimal
from app.incidents.clocks import verdicts
from app.incidents.compliance import Compliance, Met, compliance
from app.incidents.store import contracts_of_services, documents, events_of, replayed
from app.models import Customer, Incident, Service, SlaPolicy
from app.sla.periods import Month, from_epoch, month_period, to_epoch


@dataclass(frozen=True, slots=True)
class SupportMonth:
    customer_id: int
    month: Month
    # The strictest compliance target among the customer's services' policies (None:
    # the customer has no services).
    target_percent: Decimal | None
    compliance: Compliance

    def as_dict(self) -> dict[str, Any]:
        c = self.compliance
        return {
            "customer_id": self.customer_id,
            "month": str(self.month),
            "target_percent": (
                str(plain_decimal(self.target_percent)) if self.target_percent is not None else None
            ),
            "respond": c.respond.as_dict(),
            "resolve": c.resolve.as_dict(),
            "by_priority": [
                {
                    "priority": p.priority,
                    "respond": p.respond.as_dict(),
                    "resolve": p.resolve.as_dict(),
                }
                for p in c.by_priority
            ],
        }


async def month_window(
    session: AsyncSession, customer_id: int, month: Month
) -> tuple[datetime, datetime]:
    """The customer's calendar month as aware datetimes (its time zone)."""
    timezone = await session.scalar(select(Customer.timezone).where(Customer.id == customer_id))
    start, end = month_period(month, timezone or "UTC")
    return from_epoch(start), from_epoch(end)


def _of_customer(customer_id: int) -> Select[Any]:
    return (
        select(Incident)
        .join(Service, Service.id == Incident.service_id)
        .where(Service.customer_id == customer_id)
        .order_by(Incident.opened_at, Incident.id)
    )


async def month_support(
    session: AsyncSession, customer_id: int, month: Month, now: datetime
) -> SupportMonth:
    """A customer's support compliance for ``month``: the incidents opened in that
    calendar month (its time zone), each counted on a clock once that clock's ``met``
    is known (SLA_RULES.md section 8)."""
    start, end = await month_window(session, customer_id, month)
    incidents = list(
        await session.scalars(
            _of_customer(customer_id).where(Incident.opened_at >= start, Incident.opened_at < end)
        )
    )
    target_percent = await session.scalar(
        select(func.max(SlaPolicy.support_compliance_target_percent))
        .join(Service, Service.policy_id == SlaPolicy.id)
        .where(Service.customer_id == customer_id)
    )
    if target_percent is not None:
        target_percent = Decimal(target_percent)
    contracts = await contracts_of_services(session, {i.service_id for i in incidents})
    events = await events_of(session, [i.id for i in incidents])
    at = to_epoch(now)
    found = []
    for incident in incidents:
        folded = replayed(incident, events.get(incident.id, []))
        contract = contracts.get(incident.service_id)
        target = contract.targets.get(folded.priority) if contract is not None else None
        respond, resolve = verdicts(to_epoch(incident.opened_at), folded, target, at)
        found.append(Met(folded.priority, respond, resolve))
    return SupportMonth(
        customer_id,
        month,
        target_percent,
        compliance(found, target_percent if target_percent is not None else Decimal(100)),
    )


async def incidents_between(
    session: AsyncSession,
    customer_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    public_only: bool = False,
) -> list[dict[str, Any]]:
    """The customer's incidents opened in ``[start, end)``, oldest first."""
    rows = await session.scalars(
        _of_customer(customer_id).where(Incident.opened_at >= start, Incident.opened_at < end)
    )
    return await documents(session, list(rows), to_epoch(now), public_only=public_only)


async def month_incidents(
    session: AsyncSession,
    customer_id: int,
    month: Month,
    now: datetime,
    *,
    public_only: bool = False,
) -> list[dict[str, Any]]:
    """The incidents opened in the customer's calendar ``month``, oldest first."""
    start, end = await month_window(session, customer_id, month)
    return await incidents_between(session, customer_id, start, end, now, public_only=public_only)


async def open_incidents(
    session: AsyncSession, customer_id: int, now: datetime, *, public_only: bool = False
) -> list[dict[str, Any]]:
    """The customer's incidents not resolved, oldest first."""
    rows: Sequence[Incident] = list(
        await session.scalars(_of_customer(customer_id).where(Incident.state != "resolved"))
    )
    return await documents(session, rows, to_epoch(now), public_only=public_only)
