"""A day's figures follow the same rules as a month's (API_CONTRACT: "a day's figures
follow the same rules as the month's"): for any stored timeline, the status page's
one-pass series (states computed once, each day given only the intervals and windows
near it, remembered in a FiguresMemo) equals ``month_figures`` given each day on its
own with everything: the states over its evaluation window, every maintenance window,
the true ``now``. So does the whole window."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.reporting.compute import FiguresMemo, series_figures, stored_states
from app.reporting.load import ServiceInfo, StoredState
from app.sla.policy import MaintenancePolicy, NoDataPolicy, Policy
from app.sla.timeline import Segment
from app.sla.uptime import Maintenance, MonthFigures, MonthInput, evaluation_window, month_figures
from app.status.days import last_days
from tests.sla.helpers import DAY, STANDARD

NOW = 1_764_504_000  # 2025-11-30 12:00 UTC
ZONES = ["UTC", "Europe/Berlin", "Australia/Sydney", "America/New_York"]


@st.composite
def timelines(draw: st.DrawFn) -> tuple[StoredState, ServiceInfo, Policy, str]:
    zone = draw(st.sampled_from(ZONES))
    start = NOW - 20 * DAY
    segments: dict[str, list[Segment]] = {}
    for location in draw(st.sampled_from([["a"], ["a", "b"]])):
        at, pieces = start + draw(st.integers(0, 3 * DAY)), []
        drawn = st.tuples(st.integers(60, 3 * DAY), st.booleans(), st.integers(0, 6 * 3600))
        for length, failing, gap in draw(st.lists(drawn, min_size=1, max_size=25)):
            at += gap  # no data
            pieces.append(Segment(at, at + length, failing))
            at += length
        segments[location] = pieces
    state = StoredState((start - DAY, NOW + 2 * DAY))
    state.monitors[1] = [(7, draw(st.integers(1, len(segments))))]
    for location, pieces in segments.items():
        state.segments[7][location] = pieces
    for _ in range(draw(st.integers(0, 3))):
        begin = start + draw(st.integers(0, 20 * DAY))
        state.maintenance[1].append(
            Maintenance(
                begin, begin + draw(st.integers(60, DAY)), begin - draw(st.integers(0, 3 * DAY))
            )
        )
    policy = Policy(
        target_percent=STANDARD.target_percent,
        credit_tiers=STANDARD.credit_tiers,
        min_downtime_seconds=draw(st.sampled_from([0, 60, 300, 7200])),
        maintenance_policy=draw(st.sampled_from(list(MaintenancePolicy))),
        no_data_policy=draw(st.sampled_from(list(NoDataPolicy))),
    )
    begins = start + draw(st.integers(-DAY, 10 * DAY))
    service = ServiceInfo(1, "web", 1, "acme", zone, 1, Decimal("100.00"), "EUR", begins, None)
    return state, service, policy, zone


def reference(
    state: StoredState, service: ServiceInfo, policy: Policy, period: tuple[int, int], now: int
) -> MonthFigures:
    return month_figures(
        MonthInput(
            period=period,
            policy=policy,
            monthly_fee=service.monthly_fee,
            starts_at=service.starts_at,
            ends_at=service.ends_at,
            states=stored_states(state, service, evaluation_window(period, policy)),
            maintenance=state.maintenance[service.id],
            now=now,
        )
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timelines(), st.integers(0, 2 * DAY))
def test_days_in_one_pass_equal_each_day_alone(
    case: tuple[StoredState, ServiceInfo, Policy, str], later: int
) -> None:
    state, service, policy, zone = case
    memo = FiguresMemo()
    for now in (NOW, NOW + later):  # the second pass mostly hits the memo
        days = [period for _, period in last_days(now, zone, 15)]
        window = (days[0][0], days[-1][1])
        together = series_figures(state, service, policy, [*days, window], now, memo=memo)
        alone = [reference(state, service, policy, period, now) for period in [*days, window]]
        assert together == alone
