"""Service credits (SLA_RULES.md sections 6 and 7): tiers, the hourly formulas, the
cap, rounding to cents once, and the minimum amount."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from app.sla.policy import CreditFormula, Policy

HOUR = 3600


@lru_cache(maxsize=1024)
def exact(value: Decimal) -> Fraction:
    """A policy decimal as a Fraction (cached: the same few values recur per service)."""
    return Fraction(value)


def tier_percent(policy: Policy, uptime: Fraction) -> Fraction:
    """The credit percent of the tier ``[from, to)`` holding ``uptime`` (0 if none)."""
    for tier in policy.credit_tiers:
        if exact(tier.from_percent) <= uptime < exact(tier.to_percent):
            return exact(tier.credit_percent)
    return Fraction(0)


def formula_percent(
    policy: Policy, uptime: Fraction, downtime: int, available: int, period: int
) -> Fraction:
    """The credit as a percent of the fee, before the cap.

    ``downtime`` and ``available`` are D and A in seconds; ``period`` is the month's
    length in seconds (the hours in the period of the hourly formula).
    """
    match policy.credit_formula:
        case CreditFormula.TIERED:
            return tier_percent(policy, uptime)
        case CreditFormula.HOURLY:
            # multiplier x fee / hours_in_period x downtime_hours, as a percent of fee.
            return 100 * exact(policy.hourly_multiplier) * downtime / period
        case CreditFormula.PER_STARTED_HOUR_BEYOND_ALLOWANCE:
            allowance = (1 - exact(policy.target_percent) / 100) * available
            beyond = downtime - allowance
            if beyond <= 0:
                return Fraction(0)
            started_hours = -(-beyond // HOUR)  # ceiling: every started hour counts
            return exact(policy.percent_per_hour) * started_hours
    raise ValueError(f"unknown credit formula {policy.credit_formula!r}")


def round_cents(amount: Fraction) -> Decimal:
    """Round half-up to cents, exactly (no float ever sees the amount)."""
    scaled = abs(amount) * 100
    cents = (2 * scaled.numerator + scaled.denominator) // (2 * scaled.denominator)
    return (Decimal(cents if amount >= 0 else -cents) / 100).quantize(Decimal("0.01"))


def credit(policy: Policy, fee: Fraction, percent: Fraction) -> tuple[Fraction, Decimal]:
    """Cap the percent, then the amount: ``fee x percent / 100`` rounded half-up to cents
    once; an amount not greater than ``min_credit_amount`` pays 0."""
    capped = min(percent, exact(policy.credit_cap_percent))
    amount = round_cents(fee * capped / 100)
    if amount <= policy.min_credit_amount:
        return capped, Decimal("0.00")
    return capped, amount
