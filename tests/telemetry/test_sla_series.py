"""The SLA families keep each service's lines while its figures hold: a scrape writes
only the services whose figures changed, shows what a scrape from scratch shows, and
hands the event loop back while it goes through many services."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest

from app.reporting.compute import ServiceMonth
from app.reporting.load import ServiceInfo
from app.sla.periods import Month
from app.sla.policy import Policy
from app.sla.uptime import MonthFigures
from app.telemetry import sla as sla_module
from app.telemetry.sla import SlaFamilies
from tests.helpers import another_task, samples_by_family

MONTH_SECONDS = 30 * 86_400


def month(service_id: int, downtime: int = 0) -> ServiceMonth:
    figures = MonthFigures(
        period=(0, MONTH_SECONDS),
        uptime=Fraction(MONTH_SECONDS - downtime, MONTH_SECONDS) * 100,
        downtime_seconds=downtime,
        excused_seconds=0,
        no_data_seconds=0,
        coverage=Fraction(100),
        breached=False,
        needs_review=False,
        credit_percent=Fraction(0),
        credit_amount=Decimal("0.00"),
        downtime_periods=[],
        available_seconds=MONTH_SECONDS,
    )
    service = ServiceInfo(
        id=service_id,
        slug=f"svc-{service_id}",
        customer_id=1,
        customer_slug="acme",
        timezone="UTC",
        policy_id=1,
        monthly_fee=Decimal("100.00"),
        currency="EUR",
        starts_at=0,
        ends_at=None,
    )
    return ServiceMonth(service, Month(2026, 11), Policy(Decimal("99.9")), figures)


def lines(chunks: list[bytes]) -> list[str]:
    return sorted(b"".join(chunks).decode().splitlines())


def test_a_scrape_writes_only_the_services_whose_figures_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sla_module, "SAME_PER_TURN", 50)
    monkeypatch.setattr(sla_module, "WRITTEN_PER_TURN", 10)
    written: list[int] = []
    real_lines = sla_module.service_lines

    def counting(item: ServiceMonth) -> tuple[bytes, bytes, bytes, bytes]:
        written.append(item.service.id)
        return real_lines(item)

    monkeypatch.setattr(sla_module, "service_lines", counting)
    items = {k: month(k) for k in range(1, 301)}

    async def run() -> tuple[list[bytes], list[int], list[bytes], int]:
        families = SlaFamilies()
        await families.render(items)
        written.clear()
        # 2: new figures, other values; 3: recomputed equal (a new object); 4: gone.
        items[2] = month(2, downtime=600)
        items[3] = replace(items[3])
        del items[4]
        async with another_task() as turns:
            again = await families.render(items)
        return again, list(written), await SlaFamilies().render(items), len(turns)

    again, rewritten, fresh, turns = asyncio.run(run())
    assert rewritten == [2]
    assert lines(again) == lines(fresh)
    counts = samples_by_family(b"".join(again).decode())
    assert set(counts.values()) == {299}  # each family: one header, then every service
    assert 'uptally_sla_error_budget_remaining_seconds{customer="acme",service="svc-2"}' in (
        b"".join(again).decode()
    )
    assert 'service="svc-4"' not in b"".join(again).decode()
    assert turns >= 299 // 50  # the cheap pass; then one slice of changed services
