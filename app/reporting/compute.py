"""SLA figures from stored state: the pure per-service step over any window, and the
monthly figures of many services at once.

A window is any span: a customer's calendar month (billing), a calendar day (status
page bars), the last 30 or 90 days (badges). They all go through ``window_figures``,
so a day's uptime follows the same rules as the month's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.loop import in_turns
from app.reporting.load import ServiceInfo, StoredState, load_policies, load_state
from app.sla.intervals import Interval, overlapping
from app.sla.periods import Month, month_period, to_epoch
from app.sla.policy import Policy
from app.sla.timeline import States, monitor_states, service_states
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


def stored_states(state: StoredState, service: ServiceInfo, window: Interval) -> States:
    """The service's DOWN and NO DATA time over ``window`` from loaded state (pure)."""
    return service_states(
        [
            monitor_states(list(state.segments[monitor_id].values()), quorum, window)
            for monitor_id, quorum in state.monitors[service.id]
        ],
        window,
    )


class FiguresMemo:
    """Figures remembered by everything they depend on (``MonthInput``, with the
    states and windows near the period only, and ``now`` only as far as it matters:
    up to the end of the evaluation window). A status page recomputed every few
    seconds then recomputes only the days whose inputs changed: today, and a day late
    results reached. Exact by construction: nothing is invalidated, a changed input is
    a different key. Least recently used entries go first."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self._store: OrderedDict[Hashable, MonthFigures] = OrderedDict()
        self._terms: dict[Hashable, int] = {}

    def terms(self, month: MonthInput) -> int:
        """A small number for a month's terms (policy, fee, service life), so that
        each period's key compares integers, not whole policies."""
        key = (month.policy, month.monthly_fee, month.starts_at, month.ends_at)
        return self._terms.setdefault(key, len(self._terms))

    def figures(self, month: MonthInput, terms: int | None = None) -> MonthFigures:
        key = (
            self.terms(month) if terms is None else terms,
            month.period,
            tuple(month.states.down),
            tuple(month.states.no_data),
            tuple(month.maintenance),
            month.now,
        )
        found = self._store.get(key)
        if found is None:
            found = self._store[key] = month_figures(month)
            if len(self._store) > self.size:
                self._store.popitem(last=False)
                if len(self._terms) > self.size:  # terms edited very many times
                    self._store.clear()
                    self._terms.clear()
        else:
            self._store.move_to_end(key)
        return found


def window_figures(
    state: StoredState, service: ServiceInfo, policy: Policy, period: Interval, now: int
) -> MonthFigures:
    """One service's figures over ``period`` from loaded state (pure). ``state`` must
    cover ``evaluation_window(period, policy)``."""
    [figures] = series_figures(state, service, policy, [period], now)
    return figures


def series_figures(
    state: StoredState,
    service: ServiceInfo,
    policy: Policy,
    periods: Sequence[Interval],
    now: int,
    states: States | None = None,
    memo: FiguresMemo | None = None,
) -> list[MonthFigures]:
    """One service's figures over each of ``periods`` (pure): the states are computed
    once over all their evaluation windows (or given, over at least those), then each
    period goes through the same ``month_figures`` as a month does (a state restricted
    to a sub-window is the state over that sub-window, so this equals
    ``window_figures`` per period)."""
    if not periods:
        return []
    windows = [evaluation_window(p, policy) for p in periods]
    if states is None:
        span = (min(w[0] for w in windows), max(w[1] for w in windows))
        states = stored_states(state, service, span)
    figures = []
    terms = None
    for period, (lo, hi) in zip(periods, windows, strict=True):
        # Only the states' intervals near this period: month_figures clips to its
        # evaluation window anyway, and a day need not walk 90 days of intervals.
        near = States(overlapping(states.down, lo, hi), overlapping(states.no_data, lo, hi))
        month = MonthInput(
            period=period,
            policy=policy,
            monthly_fee=service.monthly_fee,
            starts_at=service.starts_at,
            ends_at=service.ends_at,
            states=near,
            maintenance=[w for w in state.maintenance[service.id] if w.end > lo and w.start < hi],
            # Time past the evaluation window is never looked at: a past day's
            # figures do not change as `now` moves on (and stay remembered).
            now=min(now, hi),
        )
        if memo is None:
            figures.append(month_figures(month))
            continue
        terms = memo.terms(month) if terms is None else terms
        figures.append(memo.figures(month, terms))
    return figures


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
    # Once per time zone and per (period, policy), not per service: at 30,000 services
    # they took 24 ms before the first yield (now 8 ms, measured on an idle machine).
    bounds = {tz: month_period(month, tz) for tz in {s.timezone for s in services}}
    periods = {
        s.id: (starts.get(s.id, bounds[s.timezone][0]), bounds[s.timezone][1]) for s in services
    }
    windows = [
        evaluation_window(period, policies[policy_id])
        for period, policy_id in {(periods[s.id], s.policy_id) for s in services}
    ]
    span = (min(w[0] for w in windows), max(w[1] for w in windows))
    state = await load_state(session, [s.id for s in services], span)
    at = to_epoch(now)
    figures = []
    async for service in in_turns(services, YIELD_EVERY):  # pure CPU from here
        figures.append(
            ServiceMonth(
                service,
                month,
                policies[service.policy_id],
                window_figures(
                    state, service, policies[service.policy_id], periods[service.id], at
                ),
                tuple(sorted(state.monitors[service.id])),
                tuple(sorted(state.maintenance[service.id], key=lambda w: (w.start, w.end))),
            )
        )
    return figures


# Services computed between two turns of the event loop: about 1 ms of CPU. A read
# that arrives meanwhile waits one slice per database round trip, so a slice of 20
# (~5 ms) added 50-100 ms to SLA reads that ran beside credits for every service.
YIELD_EVERY = 5


async def compute_windows(
    session: AsyncSession,
    service: ServiceInfo,
    periods: Sequence[Interval],
    now: datetime,
) -> list[MonthFigures]:
    """One service's figures over each of ``periods`` (e.g. the last 30 days), from a
    single load of the stored state covering them all."""
    if not periods:
        return []
    policy = (await load_policies(session, {service.policy_id}))[service.policy_id]
    windows = [evaluation_window(p, policy) for p in periods]
    span = (min(w[0] for w in windows), max(w[1] for w in windows))
    state = await load_state(session, [service.id], span)
    return series_figures(state, service, policy, periods, to_epoch(now))
