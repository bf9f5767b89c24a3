"""A service's month: downtime periods, uptime, coverage, breach and credit
(SLA_RULES.md sections 3 to 7)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from app.sla.credits import credit, exact, formula_percent
from app.sla.intervals import Interval, clip, intersect, subtract, total, union
from app.sla.policy import ExistencePolicy, MaintenancePolicy, NoDataPolicy, Policy
from app.sla.timeline import States

REVIEW_COVERAGE = Fraction(95, 100)
FOREVER = 2**62


@dataclass(frozen=True, slots=True)
class Maintenance:
    start: int
    end: int
    announced_at: int


@dataclass(frozen=True, slots=True)
class MonthInput:
    """Everything one service's month depends on.

    ``states`` must cover at least ``evaluation_window(...)``, so that a downtime piece
    crossing the month boundary can be judged whole.
    """

    period: Interval
    policy: Policy
    monthly_fee: Decimal
    starts_at: int
    ends_at: int | None
    states: States
    maintenance: Sequence[Maintenance]
    now: int


@dataclass(frozen=True, slots=True)
class MonthFigures:
    period: Interval
    uptime: Fraction | None  # percent; None when A = 0 (no figure, no credit)
    downtime_seconds: int
    excused_seconds: int
    no_data_seconds: int
    coverage: Fraction  # percent
    breached: bool
    needs_review: bool
    credit_percent: Fraction
    credit_amount: Decimal
    downtime_periods: list[Interval]
    available_seconds: int


def evaluation_window(period: Interval, policy: Policy) -> Interval:
    """The span whose states a month needs: the month plus ``min_downtime_seconds`` on
    each side. A piece reaching past that is at least that long, so it qualifies
    whatever lies beyond, and a shorter piece lies wholly inside."""
    return (period[0] - policy.min_downtime_seconds, period[1] + policy.min_downtime_seconds)


def excused(windows: Sequence[Maintenance], notice_seconds: int) -> list[Interval]:
    """The union of the windows announced at least ``notice_seconds`` before they start.
    A late announcement excuses nothing; an overrun is not part of the window."""
    return union((w.start, w.end) for w in windows if w.start - w.announced_at >= notice_seconds)


def downtime_pieces(
    down: Sequence[Interval], excused_time: Sequence[Interval], minimum: int
) -> list[Interval]:
    """DOWN minus excused time, keeping only pieces of at least ``minimum`` seconds."""
    return [(s, e) for s, e in subtract(down, excused_time) if e - s >= minimum]


def truncate(value: Fraction, places: int = 4) -> str:
    """Truncate (never round) to ``places`` decimals: 99.949074 -> '99.9490'."""
    scale = 10**places
    scaled = value * scale
    whole = scaled.numerator // scaled.denominator
    sign = "-" if whole < 0 else ""
    whole = abs(whole)
    return f"{sign}{whole // scale}.{whole % scale:0{places}d}"


def month_figures(month: MonthInput) -> MonthFigures:
    policy = month.policy
    start, end = month.period
    period_len = end - start
    life = (month.starts_at, month.ends_at if month.ends_at is not None else FOREVER)
    lived = clip([life], start, end)
    window = [(start, end)] if policy.existence_policy is ExistencePolicy.ASSUME_UP else lived
    # Time after `now` has not happened yet: it counts as up (neither downtime nor
    # missing data), so an open month shows the least it will end at.
    evaluated = evaluation_window(month.period, policy)
    observed = clip([life], evaluated[0], min(evaluated[1], month.now))

    excused_time = excused(month.maintenance, policy.maintenance_notice_seconds)
    no_data = intersect(month.states.no_data, observed)
    down = intersect(month.states.down, observed)
    if policy.no_data_policy is NoDataPolicy.DOWN:
        down = union(down, no_data)
    periods = intersect(downtime_pieces(down, excused_time, policy.min_downtime_seconds), window)

    window_len = total(window)
    no_data_in_window = intersect(no_data, window)
    excused_in_window = intersect(excused_time, window)
    removed: list[Interval] = []
    if policy.maintenance_policy is MaintenancePolicy.EXCLUDE_FROM_DENOMINATOR:
        removed = union(removed, excused_in_window)
    if policy.no_data_policy is NoDataPolicy.EXCLUDED:
        removed = union(removed, no_data_in_window)
    available = window_len - total(removed)
    downtime = total(periods)

    coverage = (
        100 * (1 - Fraction(total(no_data_in_window), window_len)) if window_len else Fraction(0)
    )
    needs_review = coverage < 100 * REVIEW_COVERAGE
    uptime = Fraction(100 * (available - downtime), available) if available > 0 else None
    breached = uptime is not None and uptime < exact(policy.target_percent)

    credit_percent, credit_amount = Fraction(0), Decimal("0.00")
    if breached and not needs_review and uptime is not None:
        fee = Fraction(month.monthly_fee)
        if policy.prorate_fee:
            fee = fee * total(lived) / period_len
        percent = formula_percent(policy, uptime, downtime, available, period_len)
        credit_percent, credit_amount = credit(policy, fee, percent)

    return MonthFigures(
        period=month.period,
        uptime=uptime,
        downtime_seconds=downtime,
        excused_seconds=total(excused_in_window),
        no_data_seconds=total(no_data_in_window),
        coverage=coverage,
        breached=breached,
        needs_review=needs_review,
        credit_percent=credit_percent,
        credit_amount=credit_amount,
        downtime_periods=periods,
        available_seconds=available,
    )
