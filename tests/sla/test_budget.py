"""The error budget: what a month may lose, what is left, how fast it goes."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from app.sla.budget import budget_remaining, budget_seconds, burn_share, spent_within

JUNE = 30 * 86_400  # seconds in a 30-day month


@pytest.mark.parametrize(
    ("target", "budget"),
    [("99.9", Fraction(2592)), ("99.95", Fraction(1296)), ("99", Fraction(25_920)), ("100", 0)],
)
def test_the_budget_is_the_downtime_that_takes_the_month_to_its_target(
    target: str, budget: Fraction
) -> None:
    assert budget_seconds(JUNE, Decimal(target)) == budget


def test_what_is_left_goes_negative_once_the_target_is_missed() -> None:
    assert budget_remaining(JUNE, Decimal("99.9"), 592) == 2000
    assert budget_remaining(JUNE, Decimal("99.9"), 3000) == -408
    # Exact for targets a float cannot hold: 99.99 % of 31 days.
    assert budget_remaining(31 * 86_400, Decimal("99.99"), 0) == Fraction(26_784, 100)


@pytest.mark.parametrize(
    ("periods", "window", "spent"),
    [
        ([], (0, 3600), 0),
        ([(100, 200)], (0, 3600), 100),
        ([(-50, 50), (3500, 3700)], (0, 3600), 150),  # clipped at both ends
        ([(4000, 5000)], (0, 3600), 0),
    ],
)
def test_spent_within_counts_only_the_window(
    periods: list[tuple[int, int]], window: tuple[int, int], spent: int
) -> None:
    assert spent_within(periods, window) == spent


def test_the_burn_share_is_the_budget_spent_in_the_window() -> None:
    assert burn_share([(0, 259)], (0, 3600), JUNE, Decimal("99.9")) == Fraction(259, 2592)
    assert burn_share([(0, 259)], (0, 3600), JUNE, Decimal("100")) is None  # no budget
    assert burn_share([(0, 259)], (0, 3600), 0, Decimal("99.9")) is None  # nothing measurable
