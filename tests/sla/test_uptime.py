"""Monthly uptime, breach and credits (SLA_RULES.md sections 3-7), each case with its
arithmetic. Unless a case says otherwise: June 2025 UTC (43,200 min = 2,592,000 s),
fee 100.00, target 99.9, tiers [99.0, 99.9) -> 10, [95.0, 99.0) -> 25, [0, 95.0) -> 50."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sla.periods import Month, month_period
from app.sla.policy import (
    CreditFormula,
    ExistencePolicy,
    MaintenancePolicy,
    NoDataPolicy,
)
from app.sla.uptime import Maintenance, truncate
from tests.sla.helpers import (
    DAY,
    HOUR,
    MIN,
    announced_long_before,
    figures,
    span,
    t,
)

# ------------------------------------------------------------- worked examples


@pytest.mark.parametrize(
    ("down", "shown", "breached", "percent", "amount"),
    [
        # 43 min: 43,157 / 43,200 = 99.90046...
        ([span("2025-06-10 12:00", "2025-06-10 12:43")], "99.9004", False, "0", "0.00"),
        # 44 min: 43,156 / 43,200 = 99.89814... -> tier [99.0, 99.9): 10 % of 100.00
        ([span("2025-06-10 12:00", "2025-06-10 12:44")], "99.8981", True, "10", "10.00"),
        # 43.2 min: 43,156.8 / 43,200 = exactly 99.9, not below the target
        ([span("2025-06-10 12:00:00", "2025-06-10 12:43:12")], "99.9000", False, "0", "0.00"),
        # 432 min: 42,768 / 43,200 = exactly 99.0, which is in [99.0, 99.9) -> 10 %
        ([span("2025-06-10 00:00", "2025-06-10 07:12")], "99.0000", True, "10", "10.00"),
        # 2,160 min: 41,040 / 43,200 = exactly 95.0 -> [95.0, 99.0) -> 25 %
        ([span("2025-06-10 00:00", "2025-06-11 12:00")], "95.0000", True, "25", "25.00"),
        # 3 days: 38,880 / 43,200 = 90 -> [0, 95) -> 50 %
        ([span("2025-06-10 00:00", "2025-06-13 00:00")], "90.0000", True, "50", "50.00"),
    ],
)
def test_worked_examples(
    down: list[tuple[int, int]], shown: str, breached: bool, percent: str, amount: str
) -> None:
    result = figures(down)
    assert result.uptime is not None
    assert truncate(result.uptime) == shown
    assert result.breached is breached
    assert result.credit_percent == Fraction(percent)
    assert result.credit_amount == Decimal(amount)


def test_overlapping_maintenance_windows_are_merged_first() -> None:
    # Outage 01:30-04:30; windows 02:00-03:00 and 02:30-04:00 merge to 02:00-04:00.
    # D = 30 min before + 30 min after = 60 min; 43,140 / 43,200 = 99.8611...
    result = figures(
        [span("2025-06-10 01:30", "2025-06-10 04:30")],
        maintenance=[
            announced_long_before("2025-06-10 02:00", "2025-06-10 03:00"),
            announced_long_before("2025-06-10 02:30", "2025-06-10 04:00"),
        ],
    )
    assert result.downtime_seconds == 60 * MIN
    assert result.excused_seconds == 120 * MIN
    assert result.uptime is not None and truncate(result.uptime) == "99.8611"
    assert [(e - s) for s, e in result.downtime_periods] == [30 * MIN, 30 * MIN]


def test_display_truncates_so_a_failing_month_never_shows_a_passing_number() -> None:
    # 22 min: 43,178 / 43,200 = 99.949074...; rounding would show 99.9491 (or 99.95).
    result = figures(
        [span("2025-06-10 12:00", "2025-06-10 12:22")],
        target_percent=Decimal("99.95"),
        credit_tiers=(),
    )
    assert result.uptime is not None
    assert truncate(result.uptime) == "99.9490"
    assert result.breached


# ------------------------------------------------------------- maintenance


def test_maintenance_announced_too_late_excuses_nothing() -> None:
    start, end = span("2025-06-10 02:00", "2025-06-10 03:00")
    late = Maintenance(start, end, announced_at=start - 86_399)  # 1 s short of 24 h
    on_time = Maintenance(start, end, announced_at=start - 86_400)
    assert figures([(start, end)], maintenance=[late]).downtime_seconds == HOUR
    assert figures([(start, end)], maintenance=[on_time]).downtime_seconds == 0


def test_maintenance_notice_is_the_policys() -> None:
    start, end = span("2025-06-10 02:00", "2025-06-10 03:00")
    window = Maintenance(start, end, announced_at=start - HOUR)
    assert figures([(start, end)], maintenance=[window]).downtime_seconds == HOUR
    excused = figures([(start, end)], maintenance=[window], maintenance_notice_seconds=HOUR)
    assert excused.downtime_seconds == 0


def test_an_overrun_of_the_window_is_downtime() -> None:
    # Window 02:00-03:00, outage 02:00-03:20: the 20 min overrun counts.
    result = figures(
        [span("2025-06-10 02:00", "2025-06-10 03:20")],
        maintenance=[announced_long_before("2025-06-10 02:00", "2025-06-10 03:00")],
    )
    assert result.downtime_seconds == 20 * MIN


def test_maintenance_stays_in_the_denominator_by_default() -> None:
    # D = 44 min, A = 43,200 min (window still counted) -> 99.8981, as without it.
    maintenance = [announced_long_before("2025-06-20 00:00", "2025-06-20 10:00")]
    result = figures([span("2025-06-10 12:00", "2025-06-10 12:44")], maintenance=maintenance)
    assert result.available_seconds == 43_200 * MIN
    assert result.uptime is not None and truncate(result.uptime) == "99.8981"


def test_exclude_from_denominator_removes_maintenance_from_a() -> None:
    # A = 43,200 - 600 = 42,600 min; D = 44 min -> 42,556 / 42,600 = 99.89671...
    maintenance = [announced_long_before("2025-06-20 00:00", "2025-06-20 10:00")]
    result = figures(
        [span("2025-06-10 12:00", "2025-06-10 12:44")],
        maintenance=maintenance,
        maintenance_policy=MaintenancePolicy.EXCLUDE_FROM_DENOMINATOR,
    )
    assert result.available_seconds == 42_600 * MIN
    assert result.uptime == Fraction(100 * 42_556, 42_600)
    assert truncate(result.uptime) == "99.8967"


# ------------------------------------------------------------- downtime periods


def test_pieces_shorter_than_the_minimum_are_ignored_entirely() -> None:
    # 59 s, 60 s and 61 s outages: the 60 s minimum is inclusive.
    result = figures(
        [
            (t("2025-06-10 12:00:00"), t("2025-06-10 12:00:59")),
            (t("2025-06-11 12:00:00"), t("2025-06-11 12:01:00")),
            (t("2025-06-12 12:00:00"), t("2025-06-12 12:01:01")),
        ]
    )
    assert result.downtime_seconds == 60 + 61
    assert len(result.downtime_periods) == 2


def test_maintenance_can_split_an_outage_into_short_pieces() -> None:
    # Outage 01:59:30-03:00:30 minus window 02:00-03:00 leaves two 30 s pieces: ignored.
    result = figures(
        [(t("2025-06-10 01:59:30"), t("2025-06-10 03:00:30"))],
        maintenance=[announced_long_before("2025-06-10 02:00", "2025-06-10 03:00")],
    )
    assert result.downtime_seconds == 0


def test_outage_crossing_month_end_is_judged_whole_then_split() -> None:
    # 15 min minimum. June 30 23:50 - July 1 00:05 is 15 min: it qualifies, June gets
    # 10 min and July 5 min although neither share alone reaches 15 min.
    down = [span("2025-06-30 23:50", "2025-07-01 00:05")]
    july = month_period(Month(2025, 7), "UTC")
    june_result = figures(down, min_downtime_seconds=15 * MIN)
    july_result = figures(down, min_downtime_seconds=15 * MIN, period=july)
    assert june_result.downtime_seconds == 10 * MIN
    assert july_result.downtime_seconds == 5 * MIN
    assert june_result.downtime_periods == [span("2025-06-30 23:50", "2025-07-01 00:00")]


def test_short_outage_crossing_month_end_counts_in_neither_month() -> None:
    down = [span("2025-06-30 23:55", "2025-07-01 00:05")]  # 10 min < 15 min
    july = month_period(Month(2025, 7), "UTC")
    assert figures(down, min_downtime_seconds=15 * MIN).downtime_seconds == 0
    assert figures(down, min_downtime_seconds=15 * MIN, period=july).downtime_seconds == 0


def test_outage_at_22_local_on_the_30th_belongs_to_the_local_month() -> None:
    # New York, June 30 22:00-22:44 EDT = July 1 02:00-02:44 UTC: June's, not July's.
    zone = "America/New_York"
    down = [span("2025-06-30 22:00", "2025-06-30 22:44", zone)]
    june = month_period(Month(2025, 6), zone)
    july = month_period(Month(2025, 7), zone)
    assert figures(down, period=june).downtime_seconds == 44 * MIN
    assert figures(down, period=july).downtime_seconds == 0
    # In UTC the same outage would be July's.
    assert figures(down, period=month_period(Month(2025, 7), "UTC")).downtime_seconds == 44 * MIN


# ------------------------------------------------------------- DST months


def test_berlin_march_has_44580_minutes() -> None:
    # March 2025 Berlin: 44,580 min. 45 min down: 44,535 / 44,580 = 99.89905...
    period = month_period(Month(2025, 3), "Europe/Berlin")
    result = figures([span("2025-03-10 12:00", "2025-03-10 12:45", "Europe/Berlin")], period=period)
    assert result.available_seconds == 44_580 * MIN
    assert result.uptime == Fraction(100 * 44_535, 44_580)
    assert truncate(result.uptime) == "99.8990"
    assert result.breached


def test_new_york_november_has_43260_minutes() -> None:
    # 43 min down: 43,217 / 43,260 = 99.90060..., not breached (a 30-day month would
    # give 43,157 / 43,200 = 99.9004, and 44 min would breach there but not here:
    # 43,216 / 43,260 = 99.89828 - breached too; 43 min is the interesting edge).
    period = month_period(Month(2025, 11), "America/New_York")
    result = figures(
        [span("2025-11-10 12:00", "2025-11-10 12:43", "America/New_York")], period=period
    )
    assert result.available_seconds == 43_260 * MIN
    assert result.uptime is not None and truncate(result.uptime) == "99.9006"
    assert not result.breached


def test_leap_february() -> None:
    # Feb 2024: 41,760 min. 42 min down: 41,718 / 41,760 = 99.89942... -> breached
    # (in a 30-day month it would be 99.9027, not breached).
    period = month_period(Month(2024, 2), "UTC")
    result = figures([span("2024-02-29 12:00", "2024-02-29 12:42")], period=period)
    assert result.available_seconds == 41_760 * MIN
    assert result.uptime is not None and truncate(result.uptime) == "99.8994"
    assert result.breached


# ------------------------------------------------------------- existence and fees


def test_service_created_mid_month_is_measured_and_billed_for_its_life() -> None:
    # Starts June 16: W = 15 days = 21,600 min. 2 h down: 21,480 / 21,600 = 99.4444...
    # -> 10 %; fee prorated 100.00 x 15/30 = 50.00 -> credit 5.00.
    result = figures(
        [span("2025-06-20 00:00", "2025-06-20 02:00")], starts_at=t("2025-06-16 00:00")
    )
    assert result.available_seconds == 21_600 * MIN
    assert result.uptime is not None and truncate(result.uptime) == "99.4444"
    assert result.credit_amount == Decimal("5.00")


def test_full_fee_when_proration_is_off() -> None:
    result = figures(
        [span("2025-06-20 00:00", "2025-06-20 02:00")],
        starts_at=t("2025-06-16 00:00"),
        prorate_fee=False,
    )
    assert result.credit_amount == Decimal("10.00")


def test_assume_up_counts_the_time_outside_the_service_life_as_up() -> None:
    # W = whole month; 2 h down: 43,080 / 43,200 = 99.7222... -> 10 % of the prorated
    # fee 50.00 = 5.00.
    result = figures(
        [span("2025-06-20 00:00", "2025-06-20 02:00")],
        starts_at=t("2025-06-16 00:00"),
        existence_policy=ExistencePolicy.ASSUME_UP,
    )
    assert result.available_seconds == 43_200 * MIN
    assert result.uptime is not None and truncate(result.uptime) == "99.7222"
    assert result.credit_amount == Decimal("5.00")


def test_service_that_ended_before_the_month_has_no_figure() -> None:
    result = figures([], starts_at=t("2025-01-01 00:00"), ends_at=t("2025-05-01 00:00"))
    assert result.uptime is None
    assert not result.breached
    assert result.credit_amount == Decimal("0.00")


def test_downtime_outside_the_service_life_does_not_count() -> None:
    result = figures(
        [span("2025-06-10 00:00", "2025-06-10 05:00")], starts_at=t("2025-06-10 04:00")
    )
    assert result.downtime_seconds == HOUR


# ------------------------------------------------------------- no data and coverage


def test_three_days_without_data_need_review_and_pay_nothing() -> None:
    # Coverage 1 - 3/30 = 90 % < 95 %: needs review, never credited automatically,
    # although 44 min of downtime breaches the target.
    result = figures(
        [span("2025-06-10 12:00", "2025-06-10 12:44")],
        no_data=[span("2025-06-01 00:00", "2025-06-04 00:00")],
    )
    assert result.coverage == 90
    assert result.no_data_seconds == 3 * DAY
    assert result.needs_review and result.breached
    assert result.credit_amount == Decimal("0.00")


def test_coverage_of_exactly_95_percent_is_reviewed_automatically() -> None:
    # 1.5 days of 30 missing: exactly 95 % coverage, not below it.
    result = figures(
        [span("2025-06-10 12:00", "2025-06-10 12:44")],
        no_data=[span("2025-06-01 00:00", "2025-06-02 12:00")],
    )
    assert result.coverage == 95
    assert not result.needs_review
    assert result.credit_amount == Decimal("10.00")


def test_no_data_counts_as_up_by_default() -> None:
    result = figures(no_data=[span("2025-06-01 00:00", "2025-06-01 01:00")])
    assert result.uptime == 100
    assert result.no_data_seconds == HOUR


def test_no_data_excluded_removes_it_from_a() -> None:
    # A = 43,200 - 60 = 43,140 min; D = 44 min -> 43,096 / 43,140 = 99.89800...
    result = figures(
        [span("2025-06-10 12:00", "2025-06-10 12:44")],
        no_data=[span("2025-06-01 00:00", "2025-06-01 01:00")],
        no_data_policy=NoDataPolicy.EXCLUDED,
    )
    assert result.available_seconds == 43_140 * MIN
    assert result.uptime == Fraction(100 * 43_096, 43_140)


def test_no_data_as_down_joins_adjacent_downtime() -> None:
    # 40 min down then 30 s of no data: one 40.5 min piece.
    result = figures(
        [span("2025-06-10 12:00", "2025-06-10 12:40")],
        no_data=[(t("2025-06-10 12:40"), t("2025-06-10 12:40:30"))],
        no_data_policy=NoDataPolicy.DOWN,
    )
    assert result.downtime_periods == [(t("2025-06-10 12:00"), t("2025-06-10 12:40:30"))]


# ------------------------------------------------------------- open months


def test_the_future_of_an_open_month_counts_as_up() -> None:
    # On June 15 a 44 min outage already breaches the whole month (43,156 / 43,200):
    # what remains cannot lift it back.
    result = figures([span("2025-06-10 12:00", "2025-06-10 12:44")], now=t("2025-06-15 00:00"))
    assert result.breached
    assert result.no_data_seconds == 0


def test_an_ongoing_outage_counts_up_to_now() -> None:
    result = figures([span("2025-06-10 12:00", "2025-06-10 14:00")], now=t("2025-06-10 12:30"))
    assert result.downtime_seconds == 30 * MIN


# ------------------------------------------------------------- other formulas


def test_hourly_credit_at_ten_times_the_hourly_rate() -> None:
    # 10 x 100.00 / 720 h x 2 h = 2.7777... -> 2.78.
    result = figures(
        [span("2025-06-10 00:00", "2025-06-10 02:00")],
        credit_formula=CreditFormula.HOURLY,
        hourly_multiplier=Decimal(10),
        credit_tiers=(),
    )
    assert result.credit_amount == Decimal("2.78")


def test_hourly_credit_needs_a_breach() -> None:
    # 43 min is within 99.9 %: no credit although downtime was lost time.
    result = figures(
        [span("2025-06-10 00:00", "2025-06-10 00:43")],
        credit_formula=CreditFormula.HOURLY,
        credit_tiers=(),
    )
    assert result.credit_amount == Decimal("0.00")


@pytest.mark.parametrize(
    ("minutes", "percent"),
    [
        # allowance = (1 - 99.9/100) x 43,200 min = 43.2 min
        (43, 0),  # within the allowance
        (44, 5),  # 0.8 min beyond: one started hour
        (103, 5),  # 59.8 min beyond: still one
        (104, 10),  # 60.8 min beyond: two started hours
        (200, 15),  # 156.8 min beyond: three
    ],
)
def test_per_started_hour_beyond_allowance(minutes: int, percent: int) -> None:
    result = figures(
        [(t("2025-06-10 00:00"), t("2025-06-10 00:00") + minutes * MIN)],
        credit_formula=CreditFormula.PER_STARTED_HOUR_BEYOND_ALLOWANCE,
        percent_per_hour=Decimal(5),
        credit_tiers=(),
    )
    assert result.credit_percent == percent
    assert result.credit_amount == Decimal(percent).quantize(Decimal("0.01"))


# ------------------------------------------------------------- cap, rounding, minimum


def test_credit_is_capped() -> None:
    # 3 days down -> 50 %, capped at 30 % -> 30.00.
    result = figures([span("2025-06-10 00:00", "2025-06-13 00:00")], credit_cap_percent=Decimal(30))
    assert result.credit_percent == 30
    assert result.credit_amount == Decimal("30.00")


def test_hourly_credit_is_capped_too() -> None:
    # 50 x 100.00 / 720 x 24 = 166.67, capped at 100 % -> 100.00.
    result = figures(
        [span("2025-06-10 00:00", "2025-06-11 00:00")],
        credit_formula=CreditFormula.HOURLY,
        hourly_multiplier=Decimal(50),
        credit_tiers=(),
    )
    assert result.credit_amount == Decimal("100.00")


@pytest.mark.parametrize(
    ("fee", "amount"),
    [
        ("33.33", "8.33"),  # 25 % = 8.3325 -> 8.33
        ("33.34", "8.34"),  # 25 % = 8.335 -> half-up to 8.34
        ("0.02", "0.01"),  # 25 % = 0.005 -> 0.01
    ],
)
def test_credit_rounds_half_up_to_cents_once(fee: str, amount: str) -> None:
    result = figures([span("2025-06-10 00:00", "2025-06-11 12:00")], fee=fee)  # 95.0 -> 25 %
    assert result.credit_amount == Decimal(amount)


@pytest.mark.parametrize(("minimum", "amount"), [("10.00", "0.00"), ("9.99", "10.00")])
def test_a_credit_not_greater_than_the_minimum_pays_nothing(minimum: str, amount: str) -> None:
    result = figures(
        [span("2025-06-10 12:00", "2025-06-10 12:44")], min_credit_amount=Decimal(minimum)
    )
    assert result.credit_amount == Decimal(amount)


def test_truncate_never_rounds_up() -> None:
    assert truncate(Fraction(999_999, 10_000)) == "99.9999"
    assert truncate(Fraction(99_999_999, 1_000_000)) == "99.9999"
    assert truncate(Fraction(100)) == "100.0000"
    assert truncate(Fraction(0)) == "0.0000"


# ------------------------------------------------------------- properties
#
# The figures against an independent count: a five-minute window judged second by
# second, straight from the raw states, maintenance windows and policy, with none of
# app.sla's interval helpers.

SMALL = (1_750_000_000, 1_750_000_300)
EDGE = 150  # states are drawn this far either side of the window (beyond: up)
UP, DOWN, NO_DATA = "U", "D", "N"


@dataclass(frozen=True)
class SmallCase:
    labels: str  # one state per second from SMALL[0] - EDGE on
    maintenance: list[Maintenance]
    starts_at: int
    ends_at: int | None
    now: int
    changes: dict[str, Any]  # to the standard policy


@st.composite
def small_cases(draw: st.DrawFn) -> SmallCase:
    start, end = SMALL
    # Lengths and minimums (and notices) often meet at the same few values: a piece
    # exactly as long as the minimum, a notice exactly as long as required, are edges.
    lengths = st.integers(1, 120) | st.sampled_from([30, 60])
    runs = draw(
        st.lists(st.tuples(st.sampled_from([UP, DOWN, NO_DATA]), lengths), min_size=1, max_size=12)
    )
    windows = [
        Maintenance(at, at + length, announced_at=at - notice)
        for at, length, notice in draw(
            st.lists(
                st.tuples(
                    st.integers(start - EDGE, end + EDGE),
                    st.integers(1, 150),
                    st.integers(0, 120) | st.sampled_from([30, 60]),
                ),
                max_size=3,
            )
        )
    ]
    # The drawn runs, repeated, cover the whole span (so the window is rarely all up).
    pattern, span = "".join(label * length for label, length in runs), end - start + 2 * EDGE
    starts_at = draw(st.integers(start - EDGE, start) | st.integers(start, end))
    ends_at = draw(st.none() | st.integers(starts_at + 1, end + EDGE))
    changes = {
        "min_downtime_seconds": draw(st.integers(0, 120) | st.sampled_from([30, 60])),
        "maintenance_notice_seconds": draw(st.integers(0, 100) | st.sampled_from([30, 60])),
        "maintenance_policy": draw(st.sampled_from(MaintenancePolicy)),
        "no_data_policy": draw(st.sampled_from(NoDataPolicy)),
        "existence_policy": draw(st.sampled_from(ExistencePolicy)),
    }
    return SmallCase(
        labels=(pattern * (span // len(pattern) + 1))[:span],
        maintenance=windows,
        starts_at=starts_at,
        ends_at=ends_at,
        now=draw(st.integers(start - EDGE, end + EDGE) | st.just(end + 365 * DAY)),
        changes=changes,
    )


def runs_of(seconds: list[int]) -> list[tuple[int, int]]:
    """Sorted seconds -> maximal [first, last + 1) runs."""
    runs: list[tuple[int, int]] = []
    for second in seconds:
        if runs and runs[-1][1] == second:
            runs[-1] = (runs[-1][0], second + 1)
        else:
            runs.append((second, second + 1))
    return runs


def runs_of_label(labels: str, label: str) -> list[tuple[int, int]]:
    """The states as the timeline hands them over: sorted, disjoint intervals."""
    first = SMALL[0] - EDGE
    return runs_of([first + i for i, here in enumerate(labels) if here == label])


def count_second_by_second(case: SmallCase) -> dict[str, Any]:
    """What SLA_RULES.md says each second of the window is, judged alone."""
    start, end = SMALL
    rules = case.changes
    seconds = range(start - EDGE, end + EDGE)  # up before and after
    state = dict(zip(seconds, case.labels, strict=False))
    alive = {
        s for s in seconds if case.starts_at <= s and (case.ends_at is None or s < case.ends_at)
    }
    observed = {s for s in alive if s < case.now}  # lived and already happened
    excused = {
        s
        for w in case.maintenance
        if w.start - w.announced_at >= rules["maintenance_notice_seconds"]
        for s in range(w.start, w.end)
    }
    failing = [DOWN] + ([NO_DATA] if rules["no_data_policy"] is NoDataPolicy.DOWN else [])
    # Downtime pieces are judged whole, wherever they reach, then cut to the window.
    pieces = runs_of(
        [s for s in seconds if s in observed and s not in excused and state.get(s) in failing]
    )
    qualifying = {
        second
        for piece_start, piece_end in pieces
        if piece_end - piece_start >= rules["min_downtime_seconds"]
        for second in range(piece_start, piece_end)
    }
    counts = {"window": 0, "down": 0, "no_data": 0, "excused": 0, "removed": 0, "up": 0}
    down_seconds = []
    for second in range(start, end):
        if rules["existence_policy"] is not ExistencePolicy.ASSUME_UP and second not in alive:
            continue  # outside the service's life: not measured at all
        counts["window"] += 1
        no_data = second in observed and state.get(second) == NO_DATA
        counts["no_data"] += no_data
        counts["excused"] += second in excused
        removed = (
            rules["maintenance_policy"] is MaintenancePolicy.EXCLUDE_FROM_DENOMINATOR
            and second in excused
        ) or (rules["no_data_policy"] is NoDataPolicy.EXCLUDED and no_data)
        if second in qualifying:
            counts["down"] += 1
            down_seconds.append(second)
        elif removed:
            counts["removed"] += 1
        else:
            counts["up"] += 1
    counts["periods"] = runs_of(down_seconds)
    return counts


@settings(max_examples=200)
@given(small_cases())
def test_figures_match_a_second_by_second_count(case: SmallCase) -> None:
    result = figures(
        runs_of_label(case.labels, DOWN),
        period=SMALL,
        no_data=runs_of_label(case.labels, NO_DATA),
        maintenance=case.maintenance,
        starts_at=case.starts_at,
        ends_at=case.ends_at,
        now=case.now,
        **case.changes,
    )
    count = count_second_by_second(case)
    assert result.downtime_seconds == count["down"]
    assert result.downtime_periods == count["periods"]
    assert result.no_data_seconds == count["no_data"]
    assert result.excused_seconds == count["excused"]
    assert result.available_seconds == count["window"] - count["removed"]
    available = count["up"] + count["down"]
    assert result.uptime == (Fraction(100 * count["up"], available) if available else None)
    assert result.coverage == (
        100 - Fraction(100 * count["no_data"], count["window"]) if count["window"] else 0
    )
