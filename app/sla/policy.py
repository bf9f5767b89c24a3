"""An SLA policy as the accounting code sees it, and the checks made when one is saved."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class CreditFormula(StrEnum):
    TIERED = "tiered"
    HOURLY = "hourly"
    PER_STARTED_HOUR_BEYOND_ALLOWANCE = "per_started_hour_beyond_allowance"


class MaintenancePolicy(StrEnum):
    NOT_DOWNTIME = "not_downtime"
    EXCLUDE_FROM_DENOMINATOR = "exclude_from_denominator"


class NoDataPolicy(StrEnum):
    UP = "up"
    EXCLUDED = "excluded"
    DOWN = "down"


class ExistencePolicy(StrEnum):
    EXISTENCE_WINDOW = "existence_window"
    ASSUME_UP = "assume_up"


@dataclass(frozen=True, slots=True)
class CreditTier:
    """``[from_percent, to_percent) -> credit_percent``."""

    from_percent: Decimal
    to_percent: Decimal
    credit_percent: Decimal


@dataclass(frozen=True, slots=True)
class Policy:
    target_percent: Decimal
    credit_tiers: tuple[CreditTier, ...] = ()
    credit_formula: CreditFormula = CreditFormula.TIERED
    hourly_multiplier: Decimal = Decimal(1)
    percent_per_hour: Decimal = Decimal(0)
    credit_cap_percent: Decimal = Decimal(100)
    min_credit_amount: Decimal = Decimal(0)
    prorate_fee: bool = True
    min_downtime_seconds: int = 60
    maintenance_notice_seconds: int = 86_400
    maintenance_policy: MaintenancePolicy = MaintenancePolicy.NOT_DOWNTIME
    no_data_policy: NoDataPolicy = NoDataPolicy.UP
    existence_policy: ExistencePolicy = ExistencePolicy.EXISTENCE_WINDOW


def tier_problems(tiers: Sequence[CreditTier], target: Decimal) -> list[str]:
    """Why these tiers are not contiguous, non-overlapping rows covering [0, target).

    Returns an empty list for a valid table. The rows may come in any order.
    """
    if not tiers:
        return [f"credit tiers must cover [0, {target}); none were given"]
    problems = []
    ordered = sorted(tiers, key=lambda t: t.from_percent)
    for tier in ordered:
        if tier.from_percent >= tier.to_percent:
            problems.append(
                f"tier [{tier.from_percent}, {tier.to_percent}) is empty: from must be below to"
            )
    if ordered[0].from_percent != 0:
        problems.append(f"the lowest tier starts at {ordered[0].from_percent}, not at 0")
    for lower, upper in itertools.pairwise(ordered):
        if upper.from_percent < lower.to_percent:
            problems.append(
                f"tiers [{lower.from_percent}, {lower.to_percent}) and "
                f"[{upper.from_percent}, {upper.to_percent}) overlap"
            )
        elif upper.from_percent > lower.to_percent:
            problems.append(f"no tier covers [{lower.to_percent}, {upper.from_percent})")
    if ordered[-1].to_percent != target:
        problems.append(
            f"the highest tier ends at {ordered[-1].to_percent}; it must end at the "
            f"target {target} (exactly the target earns nothing)"
        )
    return problems
