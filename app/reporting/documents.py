"""The API's JSON documents of SLA figures (API_CONTRACT.md, "SLA figures"): a
service's month, open or closed, and billing's credit rows. Built from the same
values a statement freezes, so an open and a closed month read alike."""

from __future__ import annotations

from typing import Any

from app.db import plain_decimal
from app.reporting.compute import ServiceMonth
from app.reporting.statements import FrozenStatement, frozen_figures, percent_text
from app.sla.periods import utc_text
from app.sla.uptime import truncate


def render_figures(figures: dict[str, Any]) -> dict[str, Any]:
    """Statement figures as the API shows them (instants as RFC 3339)."""
    return {
        **figures,
        "downtime_periods": [
            {"start": utc_text(start), "end": utc_text(end), "seconds": end - start}
            for start, end in figures["downtime_periods"]
        ],
    }


def figures_document(item: ServiceMonth) -> dict[str, Any]:
    """An open month's SLA document (without status)."""
    service = item.service
    return {
        "service_id": service.id,
        "service_slug": service.slug,
        "customer_id": service.customer_id,
        "customer_slug": service.customer_slug,
        "month": str(item.month),
        "timezone": service.timezone,
        "period_start": utc_text(item.figures.period[0]),
        "period_end": utc_text(item.figures.period[1]),
        "target_percent": str(plain_decimal(item.policy.target_percent)),
        "currency": service.currency,
        **render_figures(frozen_figures(item.figures)),
    }


def statement_document(frozen: FrozenStatement) -> dict[str, Any]:
    """A closed month's SLA document (without status), from its statement."""
    return {
        "service_id": frozen.service_id,
        "service_slug": frozen.service_slug,
        "customer_id": frozen.customer_id,
        "customer_slug": frozen.customer_slug,
        "month": frozen.month,
        "timezone": frozen.timezone,
        "period_start": utc_text(frozen.period[0]),
        "period_end": utc_text(frozen.period[1]),
        "target_percent": frozen.target_percent,
        "currency": frozen.currency,
        **render_figures(frozen.figures),
    }


def credit_row(item: ServiceMonth) -> dict[str, Any]:
    """What billing lists per service: the credit fields, cheap to build for thousands
    of services (no timestamps to format)."""
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


def statement_credit_row(frozen: FrozenStatement) -> dict[str, Any]:
    """A closed month's credit row, from its statement."""
    figures = frozen.figures
    return {
        "customer_id": frozen.customer_id,
        "customer_slug": frozen.customer_slug,
        "service_id": frozen.service_id,
        "service_slug": frozen.service_slug,
        "uptime_percent": figures["uptime_percent"],
        "target_percent": frozen.target_percent,
        "breached": figures["breached"],
        "needs_review": figures["needs_review"],
        "credit_percent": figures["credit_percent"],
        "credit_amount": figures["credit_amount"],
        "currency": frozen.currency,
    }


def adjustment_document(change: dict[str, Any] | None) -> dict[str, Any] | None:
    """An adjustment (``statements.adjustment``) as the API shows it."""
    if change is None:
        return None
    return {**render_figures(change), "credit_amount_delta": change["credit_amount_delta"]}
