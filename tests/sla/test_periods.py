"""SLA periods are calendar months in the customer's time zone (SLA_RULES.md 1)."""

from __future__ import annotations

import pytest

from app.sla.periods import Month, month_of, month_period
from tests.sla.helpers import t


@pytest.mark.parametrize(
    ("month", "zone", "minutes"),
    [
        ("2025-06", "UTC", 43_200),  # 30 days x 1,440
        ("2024-02", "UTC", 41_760),  # leap year: 29 x 1,440
        ("2025-02", "UTC", 40_320),  # 28 x 1,440
        ("2025-03", "Europe/Berlin", 44_580),  # 31 x 1,440 - 60 (spring forward)
        ("2025-10", "Europe/Berlin", 44_700),  # 31 x 1,440 + 60 (fall back)
        ("2025-11", "America/New_York", 43_260),  # 30 x 1,440 + 60 (fall back on the 2nd)
        ("2025-03", "America/New_York", 44_580),  # spring forward on the 9th
        ("2025-12", "Asia/Kolkata", 44_640),  # no DST: 31 x 1,440
    ],
)
def test_month_length_is_real_elapsed_time(month: str, zone: str, minutes: int) -> None:
    start, end = month_period(Month.parse(month), zone)
    assert (end - start) == minutes * 60


def test_month_starts_at_local_midnight() -> None:
    start, end = month_period(Month.parse("2025-06"), "America/New_York")
    assert start == t("2025-06-01 04:00")  # EDT is UTC-4
    assert end == t("2025-07-01 04:00")


def test_december_rolls_into_january() -> None:
    _start, end = month_period(Month.parse("2025-12"), "UTC")
    assert end == t("2026-01-01 00:00")
    assert Month.parse("2025-12").next() == Month(2026, 1)


def test_an_instant_belongs_to_the_local_month() -> None:
    # 2025-07-01 02:00 UTC is still June 30, 22:00 in New York.
    assert month_of(t("2025-07-01 02:00"), "America/New_York") == Month(2025, 6)
    assert month_of(t("2025-07-01 02:00"), "UTC") == Month(2025, 7)


@pytest.mark.parametrize("text", ["2025-13", "2025-6", "25-06", "2025-00", "june", "", "0001-01"])
def test_bad_month_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse(text)
