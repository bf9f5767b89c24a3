"""The error budget of a month: how much downtime the contract allows, how much of it
is left, and how fast it is being spent. Pure and exact (Fractions), for /metrics and
the "budget burning fast" notification.

The budget is the downtime that would take the month exactly to its target: the
measurable seconds (``available_seconds``, after the policy's exclusions) times the
share the target leaves, ``(100 - target) / 100``. What is left is that minus the
downtime counted so far (negative once the target is missed). An open month counts
the rest of the month as up, as its figures do.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from app.sla.intervals import Interval


def budget_seconds(available_seconds: int, target_percent: Decimal) -> Fraction:
    """The downtime the month may have and still meet its target."""
    return available_seconds * (100 - Fraction(target_percent)) / 100


def budget_remaining(
    available_seconds: int, target_percent: Decimal, downtime_seconds: int
) -> Fraction:
    """The budget left after the downtime so far; negative when the target is missed."""
    return budget_seconds(available_seconds, target_percent) - downtime_seconds


def spent_within(periods: Sequence[Interval], window: Interval) -> int:
    """Seconds of the downtime ``periods`` that lie within ``window``."""
    start, end = window
    return sum(max(0, min(e, end) - max(s, start)) for s, e in periods)


def burn_share(
    periods: Sequence[Interval],
    window: Interval,
    available_seconds: int,
    target_percent: Decimal,
) -> Fraction | None:
    """The share of the month's budget spent within ``window`` (e.g. the last hour);
    None when the month has no budget (a 100 % target, or nothing measurable)."""
    budget = budget_seconds(available_seconds, target_percent)
    if budget <= 0:
        return None
    return spent_within(periods, window) / budget
