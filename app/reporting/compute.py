"""SLA figures from stored state: the pure per-service step over any window, and the
monthly figures of many services at once.

A window is any span: a customer's calendar month (billing), a calendar day (status
page bars), the last 30 or 90 days (badges). They all go through ``window_figures``,
so a day's uptime follows the same rules as the month's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.reporting.load import ServiceInfo, StoredState, load_policies, load_state
from app.sla.intervals import Interval
from app.sla.periods import Month, month_period, to_epoch
from app.sla.policy import Policy
from app.sla.timeline import monitor_states, service_states
from app.sla.uptime import (
    Maintenance,
    MonthFigures,
    MonthInput,
    evaluation_window,
    month_figures,
)


@dataclass(frozen=True, slots=True)
class ServiceMonth:
    service: ServiceInfo
    month: Month
    policy: Policy
    figures: MonthFigures
    # What the figures were computed from: the monitors (id, quorum), by id, and the
    # maintenance windows (a statement freezes both).
    monitors: tuple[tuple[int, int], ...] = ()
    maintenance: tuple[Maintenance, ...] = ()


def window_figures(
    state: StoredState, service: ServiceInfo, policy: Policy, period: Interval, now: int
) -> MonthFigures:
    """One service's figures over ``period`` from loaded state (pure). ``state`` must
    cover ``evaluation_window(period, policy)``."""
    window = evaluation_window(period, policy)
    states = service_states(
        [
            monitor_states(list(state.segments[monitor_id].values()), quorum, window)
            for monitor_id, quorum in state.monitors[service.id]
        ],
        window,
    )
    return month_figures(
        MonthInput(
            period=period,
            policy=policy,
            monthly_fee=service.monthly_fee,
            starts_at=service.starts_at,
            ends_at=service.ends_at,
            states=states,
            maintenance=state.maintenance[service.id],
            now=now,
        )
    )


async def compute_months(
    session: AsyncSession,
    services: Sequence[ServiceInfo],
    month: Month,
    now: datetime,
    starts: Mapping[int, int] | None = None,
) -> list[ServiceMonth]:
    """The month's figures for each service (its customer's calendar month), from the
    stored segments. Fold first if results may be pending. ``starts`` moves a service's
    period start (to where its previous closed month ended, whatever its time zone
    says now: ``app.reporting.statements.month_figures_for``)."""
    if not services:
        return []
    policies = await load_policies(session, {s.policy_id for s in services})
    starts = starts or {}
    periods = {
        s.id: (
            starts.get(s.id, month_period(month, s.timezone)[0]),
            month_period(month, s.timezone)[1],
        )
        for s in services
    }
    windows = [evaluation_window(periods[s.id], policies[s.policy_id]) for s in services]
    span = (min(w[0] for w in windows), max(w[1] for w in windows))
    state = await load_state(session, [s.id for s in services], span)
    at = to_epoch(now)
    return [
        ServiceMonth(
            service,
            month,
            policies[service.policy_id],
            window_figures(state, service, policies[service.policy_id], periods[service.id], at),
            tuple(sorted(state.monitors[service.id])),
            tuple(sorted(state.maintenance[service.id], key=lambda w: (w.start, w.end))),
        )
        for service in services
    ]


async def compute_windows(
    session: AsyncSession,
    service: ServiceInfo,
    periods: Sequence[Interval],
    now: datetime,
) -> list[MonthFigures]:
    """One service's figures over each of ``periods`` (e.g. 90 calendar days), from a
    single load of the stored state covering them all."""
    if not periods:
        return []
    policy = (await load_policies(session, {service.policy_id}))[service.policy_id]
    windows = [evaluation_window(p, policy) for p in periods]
    span = (min(w[0] for w in windows), max(w[1] for w in windows))
    state = await load_state(session, [service.id], span)
    at = to_epoch(now)
    return [window_figures(state, service, policy, period, at) for period in periods]
