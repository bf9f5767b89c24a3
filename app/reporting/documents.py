"""The API's JSON documents of SLA figures (API_CONTRACT.md, "SLA figures"): a
service's month, open or closed, and billing's credit rows. Built from the same
values a statement freezes, so an open and a closed month read alike."""

from __future__ import annotations

from typing import Any

from app.reporting.compute import ServiceMonth
from app.reporting.statements import FrozenStatement, freeze
from app.sla.periods import utc_text


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
    return statement_document(freeze(item))


def credit_row(item: ServiceMonth) -> dict[str, Any]:
    """What billing lists per service for an open month."""
    return statement_credit_row(freeze(item))


def statement_document(frozen: FrozenStatement) -> dict[str, Any]:
    """A month's SLA document (without status), from its statement or ``freeze``."""
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


def statement_credit_row(frozen: FrozenStatement) -> dict[str, Any]:
    """A month's credit row, from its statement or ``freeze``."""
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
