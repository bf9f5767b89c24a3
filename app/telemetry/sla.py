"""The SLA gauges of every service for its customer's current month, from the
figures cache (app.reporting.cache), labelled ``customer, service`` (slugs):

- ``uptally_sla_uptime_ratio``: uptime so far, the rest of the month counted as up
  (the SLA endpoint's ``uptime_percent`` / 100, untruncated; absent when nothing is
  measurable);
- ``uptally_sla_target_ratio``: the contract's target / 100;
- ``uptally_sla_error_budget_remaining_seconds``: downtime the month may still have
  and meet its target (negative once missed; app.sla.budget);
- ``uptally_sla_credit_exposure{currency}``: the credit owed if the month ended now
  (the endpoint's ``credit_amount``, written with its own decimal digits).

Exact values (Fractions, Decimals) become text here and nowhere earlier.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from app.loop import in_slices, in_turns
from app.reporting.compute import ServiceMonth
from app.sla.budget import budget_remaining
from app.telemetry.text import family_chunks, labels, value

UPTIME = "uptally_sla_uptime_ratio"
TARGET = "uptally_sla_target_ratio"
BUDGET = "uptally_sla_error_budget_remaining_seconds"
CREDIT = "uptally_sla_credit_exposure"

# Between two turns of the event loop: services found unchanged (~0.3 µs each), and
# services compared or written (up to ~13 µs each).
SAME_PER_TURN = 5_000
WRITTEN_PER_TURN = 100

FAMILIES = (
    (UPTIME, "Uptime of the customer's current month so far (the rest counted as up)"),
    (TARGET, "The uptime the contract promises"),
    (
        BUDGET,
        "Downtime the month may still have and meet its target (negative once missed)",
    ),
    (CREDIT, "The service credit owed if the month ended now, in the contract's currency"),
)


def inputs(item: ServiceMonth) -> tuple[object, ...]:
    """What a service's lines are written from: equal inputs, equal lines (a full
    refresh of the figures cache recomputes every service; most come out the same)."""
    figures, service = item.figures, item.service
    return (
        service.customer_slug,
        service.slug,
        service.currency,
        item.policy.target_percent,
        figures.uptime,
        figures.available_seconds,
        figures.downtime_seconds,
        figures.credit_amount,
    )


def service_lines(item: ServiceMonth) -> tuple[bytes, bytes, bytes, bytes]:
    base = labels((("customer", item.service.customer_slug), ("service", item.service.slug)))
    figures, target = item.figures, item.policy.target_percent
    uptime = (
        f"{UPTIME}{{{base}}} {value(figures.uptime / 100)}\n" if figures.uptime is not None else ""
    )
    remaining = budget_remaining(figures.available_seconds, target, figures.downtime_seconds)
    currency = labels((("currency", item.service.currency),))
    return (
        uptime.encode(),
        f"{TARGET}{{{base}}} {value(target / Decimal(100))}\n".encode(),
        f"{BUDGET}{{{base}}} {value(remaining)}\n".encode(),
        f"{CREDIT}{{{base},{currency}}} {value(figures.credit_amount)}\n".encode(),
    )


Kept = tuple[ServiceMonth, tuple[object, ...], tuple[bytes, bytes, bytes, bytes]]


class SlaFamilies:
    """Writes the SLA families, keeping each service's lines while its figures are
    the same (the same object, or recomputed to the same values)."""

    def __init__(self) -> None:
        self._kept: dict[int, Kept] = {}

    async def render(self, items: Mapping[int, ServiceMonth]) -> list[bytes]:
        previous = self._kept
        kept: dict[int, Kept] = {}
        # Most services hold the same figures object from one scrape to the next
        # (app.reporting.cache keeps it when recomputed equal): a cheap pass finds the
        # others, so a scrape does not take a turn of the loop per 100 services.
        changed: list[tuple[int, ServiceMonth]] = []
        async for part in in_slices(items.items(), SAME_PER_TURN):
            for service_id, item in part:
                held = previous.get(service_id)
                if held is not None and held[0] is item:
                    kept[service_id] = held
                else:
                    changed.append((service_id, item))
        async for service_id, item in in_turns(changed, WRITTEN_PER_TURN):
            held = previous.get(service_id)
            key = inputs(item)
            if held is not None and held[1] == key:
                kept[service_id] = (item, key, held[2])
            else:
                kept[service_id] = (item, key, service_lines(item))
        self._kept = kept
        return await family_chunks(FAMILIES, [item[2] for item in kept.values()])
