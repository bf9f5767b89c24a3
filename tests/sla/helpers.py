"""Builders for the accounting tests: readable times in, epoch seconds out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from app.sla.intervals import Interval
from app.sla.periods import Month, month_period, to_epoch
from app.sla.policy import CreditTier, Policy
from app.sla.timeline import States
from app.sla.uptime import Maintenance, MonthFigures, MonthInput, month_figures

TIERS = (
    CreditTier(Decimal("99.0"), Decimal("99.9"), Decimal("10")),
    CreditTier(Decimal("95.0"), Decimal("99.0"), Decimal("25")),
    CreditTier(Decimal("0"), Decimal("95.0"), Decimal("50")),
)
STANDARD = Policy(target_percent=Decimal("99.9"), credit_tiers=TIERS)
JUNE = month_period(Month(2025, 6), "UTC")
MIN = 60
HOUR = 3600
DAY = 86_400


def t(text: str, zone: str = "UTC") -> int:
    """'2025-06-10 12:00' (or with seconds) in ``zone`` -> epoch seconds."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return to_epoch(datetime.strptime(text, fmt).replace(tzinfo=ZoneInfo(zone)))


def span(start: str, end: str, zone: str = "UTC") -> Interval:
    return (t(start, zone), t(end, zone))


def figures(
    down: list[Interval] | None = None,
    *,
    policy: Policy = STANDARD,
    period: Interval = JUNE,
    no_data: list[Interval] | None = None,
    maintenance: list[Maintenance] | None = None,
    fee: str = "100.00",
    starts_at: int | None = None,
    ends_at: int | None = None,
    now: int | None = None,
    **policy_changes: Any,
) -> MonthFigures:
    if policy_changes:
        policy = Policy(
            **{**{f: getattr(policy, f) for f in policy.__dataclass_fields__}, **policy_changes}
        )
    return month_figures(
        MonthInput(
            period=period,
            policy=policy,
            monthly_fee=Decimal(fee),
            starts_at=starts_at if starts_at is not None else period[0] - 365 * DAY,
            ends_at=ends_at,
            states=States(down or [], no_data or []),
            maintenance=maintenance or [],
            now=now if now is not None else period[1] + 365 * DAY,
        )
    )


def announced_long_before(start: str, end: str) -> Maintenance:
    begin, finish = span(start, end)
    return Maintenance(begin, finish, announced_at=begin - 7 * DAY)
