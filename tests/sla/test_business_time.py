"""Business time (SLA_RULES.md section 8): support calendars and clock arithmetic.

Each table row has its minutes worked out by hand in a comment. Times are written in
the calendar's zone (``t(text, zone)``), so a row reads like the ticket it describes.
2025 dates: Fri 13 June; Tue 23 Dec (25 and 26 Dec holidays); the EU changes clocks on
Sun 30 March (02:00 -> 03:00) and Sun 26 October (03:00 -> 02:00); the US on Sun
9 March and Sun 2 November.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.sla.business_time import FOREVER, advance, business_seconds, due_at, elapsed
from app.sla.calendars import WEEKDAYS, Calendar, CalendarError
from app.sla.intervals import Interval, total, union
from tests.sla.helpers import t

MIN = 60
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")


def office(
    zone: str = BERLIN,
    ranges: list[list[str]] | None = None,
    days: tuple[str, ...] = WORKDAYS,
    holidays: tuple[str, ...] = (),
) -> Calendar:
    """Mon-Fri 09:00-17:00 in Berlin, unless told otherwise."""
    ranges = ranges or [["09:00", "17:00"]]
    return Calendar.parse(zone, {day: ranges for day in days}, holidays)


OFFICE = office()
LUNCH = office(ranges=[["09:00", "12:00"], ["13:00", "17:00"]])
CHRISTMAS = office(holidays=("2025-12-24", "2025-12-25", "2025-12-26", "2026-01-01"))
NIGHTS = office(ranges=[["00:00", "06:00"], ["22:00", "24:00"]], days=WEEKDAYS)
ALL_DAY = office(ranges=[["00:00", "24:00"]], days=WEEKDAYS)
NY_OFFICE = office(NEW_YORK)
SUNDAY_NIGHT = office(ranges=[["00:00", "06:00"]], days=("sun",))


# --- elapsed: business minutes between two instants, minus pauses ------------------------

ELAPSED = [
    pytest.param(
        # Friday afternoon, answered on Monday: Fri 15:30-17:00 = 90, Mon 09:00-10:15 = 75.
        OFFICE, "2025-06-13 15:30", "2025-06-16 10:15", [], 165,
        id="friday-afternoon-answered-monday",
    ),
    pytest.param(
        # Opened on Saturday: nothing counts until Mon 09:00; 09:00-09:20 = 20.
        OFFICE, "2025-06-14 11:00", "2025-06-16 09:20", [], 20,
        id="opened-at-the-weekend",
    ),
    pytest.param(
        # Opened and closed on Sunday: no hours at all that day.
        OFFICE, "2025-06-15 08:00", "2025-06-15 20:00", [], 0,
        id="a-day-without-hours",
    ),
    pytest.param(
        # Before opening to after closing on one day: 09:00-17:00 = 480.
        OFFICE, "2025-06-16 06:00", "2025-06-16 22:00", [], 480,
        id="a-whole-working-day",
    ),
    pytest.param(
        # Tue 23 Dec 10:00 to Mon 29 Dec 12:00, paused Wed 24 12:00 to Mon 29 10:00.
        # Without the pause: Tue 10-17 = 420, Wed 24 holiday, Thu/Fri holidays, weekend,
        # Mon 09-12 = 180 -> 600. The pause covers only holidays, the weekend and Mon
        # 09:00-10:00 (60): 600 - 60 = 540. The holidays inside it are not taken twice.
        CHRISTMAS, "2025-12-23 10:00", "2025-12-29 12:00",
        [("2025-12-24 12:00", "2025-12-29 10:00")], 540,
        id="a-holiday-inside-a-pause",
    ),
    pytest.param(
        # The same clock on the office calendar without holidays: Tue 420, Wed 24 09-12 =
        # 180 (the pause starts at 12:00), Mon 10-12 = 120 -> 720.
        OFFICE, "2025-12-23 10:00", "2025-12-29 12:00",
        [("2025-12-24 12:00", "2025-12-29 10:00")], 720,
        id="the-same-pause-without-holidays",
    ),
    pytest.param(
        # Over the year end: Wed 31 Dec 16:00-17:00 = 60, Thu 1 Jan holiday, Fri 2 Jan
        # 09:00-10:00 = 60.
        CHRISTMAS, "2025-12-31 16:00", "2026-01-02 10:00", [], 120,
        id="over-the-year-end",
    ),
    pytest.param(
        # A long holiday: Mon 22 Dec 16:00 to Fri 2 Jan 10:00. Mon 60, Tue 23 480,
        # 24-26 holidays, Mon 29 480, Tue 30 480, Wed 31 480, 1 Jan holiday, Fri 2 60.
        CHRISTMAS, "2025-12-22 16:00", "2026-01-02 10:00", [], 60 + 480 * 4 + 60,
        id="a-long-holiday",
    ),
    pytest.param(
        # Lunch 12:00-13:00 does not count: 11:30-12:00 = 30, 13:00-14:15 = 75.
        LUNCH, "2025-06-16 11:30", "2025-06-16 14:15", [], 105,
        id="a-lunch-break",
    ),
    pytest.param(
        # Over midnight on a night shift (22:00-24:00 and 00:00-06:00 every day):
        # Mon 23:00-24:00 = 60, Tue 00:00-01:30 = 90.
        NIGHTS, "2025-06-16 23:00", "2025-06-17 01:30", [], 150,
        id="over-midnight",
    ),
    pytest.param(
        # The spring-forward weekend, every day 00:00-24:00: Sat 12:00 to Mon 12:00 is 48
        # wall-clock hours minus the skipped hour = 47 h = 2,820.
        ALL_DAY, "2025-03-29 12:00", "2025-03-31 12:00", [], 2_820,
        id="dst-spring-forward-weekend-all-day",
    ),
    pytest.param(
        # The fall-back weekend: 48 + 1 = 49 h = 2,940.
        ALL_DAY, "2025-10-25 12:00", "2025-10-27 12:00", [], 2_940,
        id="dst-fall-back-weekend-all-day",
    ),
    pytest.param(
        # Office hours around the spring-forward weekend: Fri 16:00-17:00 = 60 and Mon
        # 09:00-10:00 = 60 (the missing hour is in the weekend, outside the hours).
        OFFICE, "2025-03-28 16:00", "2025-03-31 10:00", [], 120,
        id="dst-weekend-office-hours",
    ),
    pytest.param(
        # New York, Fri 7 March 16:00 EST to Mon 10 March 10:00 EDT: 60 + 60.
        NY_OFFICE, "2025-03-07 16:00", "2025-03-10 10:00", [], 120,
        id="dst-weekend-new-york",
    ),
    pytest.param(
        # Sunday 00:00-06:00 on the night the clocks skip 02:00-03:00: 5 real hours.
        SUNDAY_NIGHT, "2025-03-29 00:00", "2025-03-31 00:00", [], 300,
        id="hours-over-the-skipped-hour",
    ),
    pytest.param(
        # ... and on the night 02:00-03:00 happens twice: 7 real hours.
        SUNDAY_NIGHT, "2025-10-25 00:00", "2025-10-27 00:00", [], 420,
        id="hours-over-the-repeated-hour",
    ),
    pytest.param(
        # Two pauses, one overlapping the other and one in the lunch break: 09:00-17:00
        # minus 10:00-11:30 (90: pauses 10:00-11:00 and 10:30-11:30 merged) minus
        # 12:00-13:00 (lunch, already 0) = 420 - 90 = 330.
        LUNCH, "2025-06-16 09:00", "2025-06-16 17:00",
        [("2025-06-16 10:00", "2025-06-16 11:00"), ("2025-06-16 10:30", "2025-06-16 11:30"),
         ("2025-06-16 12:00", "2025-06-16 13:00")], 330,
        id="overlapping-pauses-and-lunch",
    ),
    pytest.param(
        # 24/7 is wall-clock time minus pauses: 48 h - 2 h = 2,760.
        None, "2025-03-29 12:00", "2025-03-31 12:00",
        [("2025-03-30 08:00", "2025-03-30 10:00")], 2_760,
        id="24-7-minus-a-pause",
    ),
    pytest.param(
        # A stop before the start counts nothing.
        OFFICE, "2025-06-16 12:00", "2025-06-16 10:00", [], 0,
        id="stop-before-start",
    ),
]  # fmt: skip


def zone_of(calendar: Calendar | None) -> str:
    return calendar.timezone if calendar is not None else "UTC"


@pytest.mark.parametrize(("calendar", "start", "stop", "pauses", "minutes"), ELAPSED)
def test_elapsed(
    calendar: Calendar | None, start: str, stop: str, pauses: list[tuple[str, str]], minutes: int
) -> None:
    zone = zone_of(calendar)
    paused = [(t(a, zone), t(b, zone)) for a, b in pauses]
    assert elapsed(calendar, t(start, zone), t(stop, zone), paused) == minutes * MIN


# --- due_at: the instant the target is reached ----------------------------------------

DUE = [
    pytest.param(
        # 4 business hours from Fri 15:30: 90 min on Friday, 150 more from Mon 09:00.
        OFFICE, "2025-06-13 15:30", 240, [], "2025-06-16 11:30",
        id="friday-afternoon-into-monday",
    ),
    pytest.param(
        # Opened Saturday: the clock starts Mon 09:00; 4 h -> 13:00.
        OFFICE, "2025-06-14 11:00", 240, [], "2025-06-16 13:00",
        id="opened-at-the-weekend",
    ),
    pytest.param(
        # 1 h from 11:30 with lunch 12:00-13:00: 30 min before lunch, 30 after -> 13:30.
        LUNCH, "2025-06-16 11:30", 60, [], "2025-06-16 13:30",
        id="over-a-lunch-break",
    ),
    pytest.param(
        # Exactly the rest of the day: 13:00 + 4 h = 17:00 Friday, the boundary itself
        # (the earliest instant the target is reached), not Monday 09:00.
        OFFICE, "2025-06-13 13:00", 240, [], "2025-06-13 17:00",
        id="due-exactly-at-closing",
    ),
    pytest.param(
        # 8 h from Tue 23 Dec 16:00: Tue 60, then 24-26 Dec holidays and the weekend,
        # Mon 29 Dec 09:00 + 420 -> 16:00.
        CHRISTMAS, "2025-12-23 16:00", 480, [], "2025-12-29 16:00",
        id="over-christmas",
    ),
    pytest.param(
        # 3 h from Wed 31 Dec 16:00: 60 that day, 1 Jan holiday, Fri 2 Jan 09:00 + 120.
        CHRISTMAS, "2025-12-31 16:00", 180, [], "2026-01-02 11:00",
        id="over-the-year-end",
    ),
    pytest.param(
        # 2 h from Mon 10:00 with a pause 10:30-12:00: 30 before, 90 after 12:00 -> 13:30.
        OFFICE, "2025-06-16 10:00", 120, [("2025-06-16 10:30", "2025-06-16 12:00")],
        "2025-06-16 13:30",
        id="after-a-pause",
    ),
    pytest.param(
        # 15 minutes 24/7 from Sat 23:50 -> Sun 00:05.
        None, "2025-06-14 23:50", 15, [], "2025-06-15 00:05",
        id="24-7",
    ),
    pytest.param(
        # 24 h on the all-day calendar from Sat 29 March 12:00 Berlin: the night loses an
        # hour, so the wall clock shows Sun 13:00.
        ALL_DAY, "2025-03-29 12:00", 1_440, [], "2025-03-30 13:00",
        id="over-the-spring-forward-night",
    ),
    pytest.param(
        # A zero target is due at once.
        OFFICE, "2025-06-14 11:00", 0, [], "2025-06-14 11:00",
        id="zero-target",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("calendar", "start", "minutes", "pauses", "due"), DUE)
def test_due_at(
    calendar: Calendar | None, start: str, minutes: int, pauses: list[tuple[str, str]], due: str
) -> None:
    zone = zone_of(calendar)
    paused = [(t(a, zone), t(b, zone)) for a, b in pauses]
    assert due_at(calendar, t(start, zone), minutes * MIN, paused) == t(due, zone)


def test_a_target_met_exactly_at_the_boundary() -> None:
    # 4 business hours from Fri 13:00 are due at Fri 17:00 exactly. "Met" is elapsed <=
    # target: an answer at 17:00 is met; so is one at 18:30 (no business time since);
    # one a second into Monday's hours is not.
    start, target = t("2025-06-13 13:00", BERLIN), 240 * MIN
    due = due_at(OFFICE, start, target)
    assert due == t("2025-06-13 17:00", BERLIN)
    assert elapsed(OFFICE, start, due) == target
    assert elapsed(OFFICE, start, t("2025-06-13 18:30", BERLIN)) == target
    assert elapsed(OFFICE, start, t("2025-06-16 09:00:01", BERLIN)) == target + 1
    assert elapsed(OFFICE, start, due - 1) == target - 1


def test_a_pause_that_has_not_ended_has_no_due_date() -> None:
    start = t("2025-06-16 10:00", BERLIN)
    open_pause = [(t("2025-06-16 10:30", BERLIN), FOREVER)]
    assert due_at(OFFICE, start, 60 * MIN, open_pause) is None
    # ... unless the target falls before the pause.
    assert due_at(OFFICE, start, 20 * MIN, open_pause) == t("2025-06-16 10:20", BERLIN)
    # and the clock counts nothing after it.
    assert elapsed(OFFICE, start, t("2025-06-20 10:00", BERLIN), open_pause) == 30 * MIN


def test_a_calendar_without_hours_never_falls_due() -> None:
    empty = Calendar.parse("UTC", {})
    assert due_at(empty, t("2025-06-16 10:00"), 60) is None
    assert advance(empty, t("2025-06-16 10:00"), 60) is None
    assert elapsed(empty, t("2025-06-16 10:00"), t("2025-09-16 10:00")) == 0


def test_a_clock_spanning_months() -> None:
    # 1 June to 1 September 2025 in Berlin, Mon-Fri 09:00-17:00 with lunch: 7 h a day.
    # June has 21 workdays, July 23, August 21 = 65 days = 455 h; 3 holidays (Mon 9 June,
    # Fri 15 Aug, and a Saturday that changes nothing) take 14 h off -> 441 h.
    calendar = office(ranges=[["09:00", "12:00"], ["13:00", "17:00"]],
                      holidays=("2025-06-09", "2025-08-15", "2025-08-16"))  # fmt: skip
    start, stop = t("2025-06-01 00:00", BERLIN), t("2025-09-01 00:00", BERLIN)
    assert elapsed(calendar, start, stop) == 441 * 3600
    assert due_at(calendar, start, 441 * 3600) == t("2025-08-29 17:00", BERLIN)


# --- calendars: bad input names what is wrong ------------------------------------------


@pytest.mark.parametrize(
    ("zone", "hours", "holidays", "loc", "message"),
    [
        ("UTC", {"mon": [["09:00", "25:00"]]}, [], ("hours", "mon", 0, 1), "25:00"),
        ("UTC", {"mon": [["17:00", "09:00"]]}, [], ("hours", "mon", 0), "ends before"),
        ("UTC", {"mon": [["09:00", "09:00"]]}, [], ("hours", "mon", 0), "empty"),
        ("UTC", {"mon": [["24:00", "24:00"]]}, [], ("hours", "mon", 0), "ends before"),
        ("UTC", {"mon": [["9:00", "17:00"]]}, [], ("hours", "mon", 0, 0), "HH:MM"),
        ("UTC", {"mon": [["09:00"]]}, [], ("hours", "mon", 0), "(start, end)"),
        ("UTC", {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, [], ("hours", "mon"), "overlap"),
        ("UTC", {"monday": [["09:00", "17:00"]]}, [], ("hours", "monday"), "not one of"),
        ("Mars/Olympus", {}, [], ("timezone",), "IANA"),
        ("UTC", {}, ["2025-02-30"], ("holidays", 0), "YYYY-MM-DD"),
        ("UTC", {}, ["2025-12-25", "25.12.2025"], ("holidays", 1), "YYYY-MM-DD"),
    ],
)
def test_bad_calendars_are_refused_naming_the_field(
    zone: str, hours: dict[str, list[list[str]]], holidays: list[str], loc: tuple[object, ...],
    message: str,
) -> None:  # fmt: skip
    with pytest.raises(CalendarError) as caught:
        Calendar.parse(zone, hours, holidays)
    assert caught.value.loc == loc
    assert message in caught.value.message


def test_touching_ranges_merge() -> None:
    calendar = Calendar.parse("UTC", {"mon": [["12:00", "17:00"], ["09:00", "12:00"]]})
    assert calendar.week[0] == ((9 * 3600, 17 * 3600),)
    assert calendar.weekly_seconds() == 8 * 3600


# --- properties -----------------------------------------------------------------------

# Zones with the awkward cases: DST on the hour, half-hour DST (Lord Howe), changes at
# midnight (Santiago, Havana, Beirut), Morocco's Ramadan, the skipped day of Apia
# (30 December 2011), a half-hour offset (Kolkata).
ZONES = [
    "UTC",
    BERLIN,
    NEW_YORK,
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "Africa/Casablanca",
    "Pacific/Apia",
    "Asia/Kolkata",
]
LO, HI = t("2010-01-01 00:00"), t("2027-01-01 00:00")
TIMES = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)] + ["24:00"]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    zone = draw(st.sampled_from(ZONES))
    hours: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        cuts = sorted(draw(st.sets(st.sampled_from(TIMES), max_size=4)))
        pairs = [cuts[i : i + 2] for i in range(0, len(cuts) - 1, 2)]
        if pairs:
            hours[day] = pairs
    holidays = draw(
        st.lists(st.dates(datetime(2009, 12, 1).date(), datetime(2027, 2, 1).date()), max_size=20)
    )
    return Calendar.parse(zone, hours, holidays)


maybe_calendars = st.one_of(st.none(), calendars())
instants = st.integers(LO, HI)
spans = st.integers(0, 120 * 86_400)


@st.composite
def pause_lists(draw: st.DrawFn, start: int) -> list[Interval]:
    pauses = []
    for _ in range(draw(st.integers(0, 4))):
        a = start + draw(st.integers(-86_400, 60 * 86_400))
        pauses.append((a, a + draw(st.integers(1, 20 * 86_400))))
    return pauses


@settings(max_examples=300, deadline=None)
@given(maybe_calendars, instants, st.data())
def test_due_at_then_elapsed_round_trips(
    calendar: Calendar | None, start: int, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    target = data.draw(st.integers(0, 400 * 3600))
    due = due_at(calendar, start, target, pauses)
    if calendar is not None and not calendar.has_hours:
        assert due is None if target else due == start
        return
    assert due is not None
    assert elapsed(calendar, start, due, pauses) == target
    if target > 0:  # and it is the earliest such instant
        assert elapsed(calendar, start, due - 1, pauses) == target - 1


@settings(max_examples=300, deadline=None)
@given(maybe_calendars, instants, spans, spans, st.data())
def test_elapsed_is_additive_over_adjacent_spans(
    calendar: Calendar | None, a: int, ab: int, bc: int, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(a))
    b, c = a + ab, a + ab + bc
    assert elapsed(calendar, a, b, pauses) + elapsed(calendar, b, c, pauses) == elapsed(
        calendar, a, c, pauses
    )


@settings(max_examples=300, deadline=None)
@given(maybe_calendars, instants, spans, spans, st.data())
def test_elapsed_is_never_negative_and_monotone_in_the_stop(
    calendar: Calendar | None, start: int, first: int, more: int, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    earlier = elapsed(calendar, start, start + first, pauses)
    later = elapsed(calendar, start, start + first + more, pauses)
    assert 0 <= earlier <= later
    # ... and never more than the wall clock without the pauses.
    wall = (
        first
        + more
        - total((max(s, start), min(e, start + first + more)) for s, e in union(pauses))
    )
    assert later <= wall


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), instants, spans, st.data())
def test_a_calendar_open_all_day_every_day_is_24_7(
    zone: str, start: int, span: int, data: st.DataObject
) -> None:
    # In every zone, DST or not (the repeated hour counts twice, the skipped one not at
    # all), 00:00-24:00 every day is wall-clock time minus pauses.
    pauses = data.draw(pause_lists(start))
    always = Calendar.parse(zone, {day: [["00:00", "24:00"]] for day in WEEKDAYS})
    assert elapsed(always, start, start + span, pauses) == elapsed(
        None, start, start + span, pauses
    )
    target = data.draw(st.integers(0, 90 * 86_400))
    assert due_at(always, start, target, pauses) == due_at(None, start, target, pauses)


def brute_force(calendar: Calendar, start: int, stop: int) -> int:
    """Business seconds by looking at every minute's local wall clock: the definition."""
    zone = ZoneInfo(calendar.timezone)
    seconds = 0
    for minute in range(start, stop, MIN):
        local = datetime.fromtimestamp(minute, UTC).astimezone(zone)
        if local.date().toordinal() in calendar.holidays:
            continue
        of_day = local.hour * 3600 + local.minute * 60
        if any(a <= of_day < b for a, b in calendar.week[local.weekday()]):
            seconds += MIN
    return seconds


# Instants around clock changes (and Apia's skipped day), where mistakes hide.
AWKWARD = [
    t("2025-03-30 01:00"),  # Berlin spring forward
    t("2025-10-26 01:00"),  # Berlin fall back
    t("2025-03-09 07:00"),  # New York
    t("2025-04-05 15:00"),  # Lord Howe (half an hour)
    t("2025-04-06 03:00"),  # Santiago (at midnight)
    t("2025-09-07 04:00"),
    t("2025-03-09 05:00"),  # Havana
    t("2025-03-30 00:00"),  # Beirut
    t("2025-02-23 02:00"),  # Casablanca (Ramadan)
    t("2011-12-30 10:00"),  # Apia's missing day
]


@settings(max_examples=150, deadline=None)
@given(calendars(), st.sampled_from(AWKWARD), st.integers(-2 * 1440, 1440), st.integers(0, 2880))
def test_elapsed_matches_the_definition_minute_by_minute(
    calendar: Calendar, around: int, offset_minutes: int, span_minutes: int
) -> None:
    start = around + offset_minutes * MIN
    stop = start + span_minutes * MIN
    assume(all(o % 1800 == 0 for o in _offsets(calendar.timezone, start, stop)))
    assert business_seconds(calendar, start, stop) == brute_force(calendar, start, stop)


def _offsets(zone: str, start: int, stop: int) -> set[int]:
    tz = ZoneInfo(zone)
    found = set()
    for instant in range(start, stop + 1, 3600):
        offset = datetime.fromtimestamp(instant, tz).utcoffset()
        assert offset is not None
        found.add(int(offset.total_seconds()))
    return found


def test_apias_missing_day_has_no_hours() -> None:
    # Pacific/Apia skipped Friday 30 December 2011: Thursday 23:59:59 was followed by
    # Saturday 00:00. A Friday-only calendar has nothing that week.
    calendar = Calendar.parse("Pacific/Apia", {"fri": [["00:00", "24:00"]]})
    start, stop = t("2011-12-28 00:00", "Pacific/Apia"), t("2012-01-01 00:00", "Pacific/Apia")
    assert business_seconds(calendar, start, stop) == 0


def test_a_fall_back_at_midnight_on_a_chunk_boundary() -> None:
    # Khartoum set its clocks back at Monday 15 October 1979 00:00 to Sunday 23:00, so
    # Sunday's 23:00-24:00 happened twice, the second time after Monday began by UTC
    # reckoning. That Monday also starts one of the four-week chunks the arithmetic is
    # built in, so the repeated hour lies past the chunk's first instant.
    calendar = Calendar.parse("Africa/Khartoum", {"sun": [["23:00", "24:00"]]})
    start, stop = t("1979-10-14 12:00", "Africa/Khartoum"), t("1979-10-15 12:00", "Africa/Khartoum")
    assert business_seconds(calendar, start, stop) == 2 * 3600 == brute_force(calendar, start, stop)
    # Due at the end of the second 23:00-24:00: Monday 00:00 (there is only one).
    assert due_at(calendar, start, 7200) == t("1979-10-15 00:00", "Africa/Khartoum")
