"""The monthly SLA report of one customer: per service exactly the figures of
``GET /services/{id}/sla`` (``app.reporting.sla``, one code path; a closed month
shows its statement and any adjustment), a summary, and the month's incidents and
support compliance. As JSON, CSV (one row per service) or HTML fit to print."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.csvtext import write_csv
from app.incidents.report import month_incidents, month_support
from app.models import Customer, Service
from app.reporting.load import load_services
from app.reporting.sla import services_of_month, sla_documents
from app.sla.periods import Month, month_period, to_epoch, utc_text


def summary(services: list[dict[str, Any]]) -> dict[str, Any]:
    """How many services, how many breached or need review, and the credits owed per
    currency (adjustments of closed months included as their deltas)."""
    credits: dict[str, Decimal] = defaultdict(Decimal)
    for service in services:
        credits[service["currency"]] += Decimal(service["credit_amount"])
        adjustment = service.get("adjustment")
        if adjustment:
            credits[service["currency"]] += Decimal(adjustment["credit_amount_delta"])
    return {
        "services": len(services),
        "breached": sum(1 for s in services if s["breached"]),
        "needs_review": sum(1 for s in services if s["needs_review"]),
        "credits": [
            {"currency": currency, "amount": f"{amount:.2f}"}
            for currency, amount in sorted(credits.items())
        ],
    }


async def monthly_report(
    session: AsyncSession,
    customer: Customer,
    month: Month,
    now: datetime,
    public_only: bool = False,
) -> dict[str, Any]:
    """``public_only``: the incidents' events are their public comments alone (what the
    customer's own key reads)."""
    services = await services_of_month(
        session, await load_services(session, customer_id=customer.id), month
    )
    documents = await sla_documents(session, services, month, now)
    rows = await session.execute(
        select(Service.id, Service.name).where(Service.customer_id == customer.id)
    )
    names = {service_id: name for service_id, name in rows}
    start, end = month_period(month, customer.timezone)
    incidents = await month_incidents(session, customer.id, month, now, public_only=public_only)
    compliance = (await month_support(session, customer.id, month, now)).as_dict()
    listed = [
        {"service_name": names.get(d["service_id"], d["service_slug"]), **d} for d in documents
    ]
    return {
        "customer": {
            "id": customer.id,
            "slug": customer.slug,
            "name": customer.name,
            "timezone": customer.timezone,
        },
        "month": str(month),
        "period_start": utc_text(start),
        "period_end": utc_text(end),
        "generated_at": utc_text(to_epoch(now)),
        "status": "closed"
        if documents and all(d["status"] == "closed" for d in documents)
        else "open",
        "summary": summary(listed),
        "services": listed,
        "incidents": incidents,
        "support": compliance,
    }


CSV_FIELDS = (
    "month",
    "status",
    "service_id",
    "service_slug",
    "service_name",
    "period_start",
    "period_end",
    "target_percent",
    "uptime_percent",
    "downtime_seconds",
    "excused_seconds",
    "no_data_seconds",
    "coverage_percent",
    "breached",
    "needs_review",
    "credit_percent",
    "credit_amount",
    "currency",
    "adjustment_credit_delta",
)


def report_csv(report: dict[str, Any]) -> str:
    """One row per service; booleans ``true``/``false`` and decimals as in the JSON
    (app.csvtext)."""
    rows = []
    for service in report["services"]:
        adjustment = service.get("adjustment")
        rows.append(
            {
                **service,
                "adjustment_credit_delta": adjustment["credit_amount_delta"] if adjustment else "",
            }
        )
    return write_csv(CSV_FIELDS, rows)
