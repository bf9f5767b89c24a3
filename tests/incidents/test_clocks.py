"""An incident's response and resolution clocks from its events (SLA_RULES.md 8),
and monthly compliance: pure, table-driven, minutes worked out in the comments.

Targets: P1 respond 15 / resolve 240 minutes 24/7; P3 respond 240 / resolve 960 on
the Berlin office calendar (Mon-Fri 09:00-17:00); P4 has no target. Mon 16 June 2025.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.incidents.clocks import (
    Event,
    State,
    Target,
    clocks,
    refusal,
    replay,
    targets_by_priority,
    verdicts,
)
from app.incidents.compliance import Met, compliance, tally
from app.sla.calendars import Calendar
from tests.sla.helpers import t

BERLIN = "Europe/Berlin"
OFFICE = Calendar.parse(
    BERLIN, {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
)
TARGETS = {"P1": Target(15, 240), "P3": Target(240, 960, OFFICE)}


def b(text: str) -> int:
    return t(text, BERLIN)


def run(opened: str, priority: str, events: list[tuple[str, str] | tuple[str, str, str]], now: str):  # type: ignore[no-untyped-def]
    folded = replay(b(opened), priority, [Event(e[0], b(e[1]), *e[2:]) for e in events])
    return folded, clocks(b(opened), folded, TARGETS.get(folded.priority), b(now))


CASES = [
    pytest.param(
        # Raised from P3 to P1 an hour in, nobody has answered: P1's 15 minutes 24/7 apply
        # from the original start, 60 have passed -> breached at once, due 10:15.
        "2025-06-16 10:00", "P3", [("priority", "2025-06-16 11:00", "P1")], "2025-06-16 11:00",
        State.OPEN, (60, False, "2025-06-16 10:15"), (60, None, "2025-06-16 14:00"),
        id="priority-raised-breached-at-once",
    ),
    pytest.param(
        # Lowered from P1 to P3 on Friday 16:55, still unanswered on Monday 09:30: P3's
        # 240 office minutes from the start: Fri 16:50-17:00 = 10, Mon 09:00-09:30 = 30
        # -> 40, running; due: 230 more from Mon 09:00 = 12:50. Resolution: 960 office
        # minutes: 10 on Friday, 480 Monday, 470 Tuesday -> Tue 16:50.
        "2025-06-13 16:50", "P1", [("priority", "2025-06-13 16:55", "P3")], "2025-06-16 09:30",
        State.OPEN, (40, None, "2025-06-16 12:50"), (40, None, "2025-06-17 16:50"),
        id="priority-lowered-more-time",
    ),
    pytest.param(
        # P3 acknowledged at 10:30 (30 office minutes: met), resolved 12:00, reopened
        # 14:00, resolved 15:00: resolution ran 10:00-12:00 and 14:00-15:00 = 180 <= 960,
        # met. Due dates as if they had kept running: respond 10:00 + 240 = 14:00;
        # resolve: 960 minutes counting the 12:00-14:00 gap as stopped: 10:00-12:00 =
        # 120, 14:00-17:00 = 180, Tue 480 -> 780, Wed 09:00 + 180 = 12:00.
        "2025-06-16 10:00", "P3",
        [("acknowledge", "2025-06-16 10:30"), ("resolve", "2025-06-16 12:00"),
         ("reopen", "2025-06-16 14:00"), ("resolve", "2025-06-16 15:00")],
        "2025-06-20 12:00",
        State.RESOLVED, (30, True, "2025-06-16 14:00"), (180, True, "2025-06-18 12:00"),
        id="a-reopen-resumes-resolution",
    ),
    pytest.param(
        # A reopened incident still running: 120 + (16:00 - 14:00 = 120) = 240, none met
        # yet; due 10:00-12:00 (120) + 14:00-17:00 (180) + Tue 660 -> ... Wed 12:00
        # (resolution: 960 - 300 = 660 = Tue 480 + Wed 180).
        "2025-06-16 10:00", "P3",
        [("acknowledge", "2025-06-16 10:30"), ("resolve", "2025-06-16 12:00"),
         ("reopen", "2025-06-16 14:00")],
        "2025-06-16 16:00",
        State.ACKNOWLEDGED, (30, True, "2025-06-16 14:00"), (240, None, "2025-06-18 12:00"),
        id="reopened-and-running",
    ),
    pytest.param(
        # Paused (waiting on the customer) at 10:05 before anyone answered: the response
        # clock runs on (20 > 15: breached), the resolution clock stopped at 5 and has no
        # due date while paused.
        "2025-06-16 10:00", "P1", [("pause", "2025-06-16 10:05")], "2025-06-16 10:20",
        State.PAUSED, (20, False, "2025-06-16 10:15"), (5, None, None),
        id="a-pause-stops-resolution-only",
    ),
    pytest.param(
        # Paused 10:05-10:45 after an acknowledgement at 10:02: resolution = 5 + (11:00 -
        # 10:45 = 15) = 20 of 240; due 10:00 + 240 + 40 paused = 14:40.
        "2025-06-16 10:00", "P1",
        [("acknowledge", "2025-06-16 10:02"), ("pause", "2025-06-16 10:05"),
         ("resume", "2025-06-16 10:45")],
        "2025-06-16 11:00",
        State.ACKNOWLEDGED, (2, True, "2025-06-16 10:15"), (20, None, "2025-06-16 14:40"),
        id="pause-and-resume",
    ),
    pytest.param(
        # Resolved (an outage ended) at 10:05 before anyone acknowledged: both clocks
        # stopped at 5 minutes, met.
        "2025-06-16 10:00", "P1", [("resolve", "2025-06-16 10:05")], "2025-06-16 12:00",
        State.RESOLVED, (5, True, "2025-06-16 10:15"), (5, True, "2025-06-16 14:00"),
        id="resolved-before-acknowledged",
    ),
    pytest.param(
        # Acknowledged at 10:07, after the outage's end was recorded at 10:05: the
        # resolution had already stopped the response clock at 5 minutes.
        "2025-06-16 10:00", "P1",
        [("resolve", "2025-06-16 10:05"), ("acknowledge", "2025-06-16 10:07")],
        "2025-06-16 12:00",
        State.RESOLVED, (5, True, "2025-06-16 10:15"), (5, True, "2025-06-16 14:00"),
        id="acknowledged-after-resolved",
    ),
    pytest.param(
        # ... reopened at 10:20 still without an answer: the response clock resumes:
        # 5 + 10 = 15 at 10:30, exactly the target, not yet decided.
        "2025-06-16 10:00", "P1",
        [("resolve", "2025-06-16 10:05"), ("reopen", "2025-06-16 10:20")],
        "2025-06-16 10:30",
        State.OPEN, (15, None, "2025-06-16 10:30"), (15, None, "2025-06-16 14:15"),
        id="reopened-before-acknowledged",
    ),
    pytest.param(
        # ... and a second later it is breached (15 min 1 s > 15 min).
        "2025-06-16 10:00", "P1",
        [("resolve", "2025-06-16 10:05"), ("reopen", "2025-06-16 10:20")],
        "2025-06-16 10:30:01",
        State.OPEN,
        (15 + 1 / 60, False, "2025-06-16 10:30"), (15 + 1 / 60, None, "2025-06-16 14:15"),
        id="one-second-past-the-target",
    ),
    pytest.param(
        # Opened Friday 16:00 at P3, acknowledged Monday 09:45: 60 + 45 = 105 office
        # minutes, met; a comment counts for nothing.
        "2025-06-13 16:00", "P3",
        [("comment", "2025-06-13 16:10"), ("acknowledge", "2025-06-16 09:45")],
        "2025-06-16 10:00",
        State.ACKNOWLEDGED, (105, True, "2025-06-16 12:00"), (120, None, "2025-06-17 16:00"),
        id="friday-to-monday-office-hours",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("opened", "priority", "events", "now", "state", "respond", "resolve"), CASES
)
def test_clocks(
    opened: str,
    priority: str,
    events: list[tuple[str, ...]],
    now: str,
    state: State,
    respond: tuple[float, bool | None, str | None],
    resolve: tuple[float, bool | None, str | None],
) -> None:
    folded, measured = run(opened, priority, events, now)  # type: ignore[arg-type]
    assert folded.state is state
    for clock, (minutes, met, due) in ((measured.respond, respond), (measured.resolve, resolve)):
        assert clock.elapsed_seconds == round(minutes * 60)
        assert clock.met is met
        assert clock.due_at == (b(due) if due is not None else None)


def test_a_priority_without_a_target_is_measured_but_never_judged() -> None:
    _, measured = run("2025-06-16 10:00", "P4", [], "2025-06-16 12:00")
    assert measured.respond.target_minutes is None
    assert measured.respond.elapsed_seconds == 7200  # 24/7 wall clock
    assert measured.respond.met is None and measured.respond.due_at is None


@pytest.mark.parametrize(
    ("events", "event", "reason"),
    [
        ([("acknowledge", "2025-06-16 10:01")], ("acknowledge", "2025-06-16 10:02"),
         "already acknowledged"),
        ([], ("resume", "2025-06-16 10:02"), "only a paused"),
        ([("pause", "2025-06-16 10:01")], ("pause", "2025-06-16 10:02"), "cannot be paused"),
        ([("resolve", "2025-06-16 10:01")], ("pause", "2025-06-16 10:02"), "cannot be paused"),
        ([("resolve", "2025-06-16 10:01")], ("resolve", "2025-06-16 10:02"), "already resolved"),
        ([], ("reopen", "2025-06-16 10:02"), "only a resolved"),
    ],
)  # fmt: skip
def test_events_the_state_does_not_allow(
    events: list[tuple[str, str]], event: tuple[str, str], reason: str
) -> None:
    folded = replay(b("2025-06-16 10:00"), "P1", [Event(k, b(a)) for k, a in events])
    found = refusal(folded.state, folded.acknowledged_at is not None, Event(event[0], b(event[1])))
    assert found is not None and reason in found


def test_replay_skips_what_the_state_does_not_allow() -> None:
    # The system's "resolve" at the outage's end may land before an operator's pause
    # recorded in between: the pause after the resolution changes nothing.
    folded = replay(
        b("2025-06-16 10:00"),
        "P1",
        [Event("resolve", b("2025-06-16 10:05")), Event("pause", b("2025-06-16 10:06"))],
    )
    assert folded.state is State.RESOLVED and folded.paused == ()


def test_targets_from_a_policy() -> None:
    rows = [
        {"priority": "P1", "respond_minutes": 15, "resolve_minutes": 240, "calendar_id": None},
        {"priority": "P3", "respond_minutes": 240, "resolve_minutes": 960, "calendar_id": 7},
    ]
    found = targets_by_priority(rows, {7: OFFICE})
    assert found["P1"] == Target(15, 240, None) and found["P3"].calendar is OFFICE


# --- properties ------------------------------------------------------------------------

KINDS = ["acknowledge", "comment", "pause", "resume", "priority", "resolve", "reopen"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[int, list[Event], int]:
    opened = b("2025-06-13 08:00") + draw(st.integers(0, 7 * 86_400))
    at, events = opened, []
    for _ in range(draw(st.integers(0, 8))):
        at += draw(st.integers(0, 2 * 86_400))
        kind = draw(st.sampled_from(KINDS))
        priority = draw(st.sampled_from(["P1", "P3"])) if kind == "priority" else None
        events.append(Event(kind, at, priority))
    return opened, events, at + draw(st.integers(0, 3 * 86_400))


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(0, 5 * 86_400))
def test_clocks_never_run_backwards_and_a_verdict_once_given_stays(
    history: tuple[int, list[Event], int], later: int
) -> None:
    opened, events, now = history
    folded = replay(opened, "P3", events)
    target = TARGETS[folded.priority]
    first, second = clocks(opened, folded, target, now), clocks(opened, folded, target, now + later)
    for a, z in ((first.respond, second.respond), (first.resolve, second.resolve)):
        assert 0 <= a.elapsed_seconds <= z.elapsed_seconds
        if a.met is not None:
            assert z.met is a.met
        assert a.due_at == z.due_at or a.due_at is None
        # met is False exactly when elapsed passed the target
        assert (a.met is False) == (a.elapsed_seconds > (a.target_minutes or 0) * 60)
    # The lean path compliance takes gives the same verdicts.
    assert verdicts(opened, folded, target, now) == (first.respond.met, first.resolve.met)


# --- compliance ------------------------------------------------------------------------


def test_compliance_counts_only_evaluated_clocks() -> None:
    verdicts = [
        Met("P1", True, True),
        Met("P1", False, True),
        Met("P1", True, None),  # resolution still running: not evaluated
        Met("P3", True, False),
        Met("P4", None, None),  # no target
    ]
    found = compliance(verdicts, Decimal("95"))
    # respond: 3 met of 4 evaluated = 75 %; resolve: 2 of 3 = 66.6666 (truncated).
    assert (found.respond.evaluated, found.respond.met, found.respond.percent) == (4, 3, "75.0000")
    assert (found.resolve.evaluated, found.resolve.met, found.resolve.percent) == (3, 2, "66.6666")
    assert found.respond.passing is False
    [p1, p2, p3, p4] = found.by_priority
    assert (p1.priority, p1.respond.evaluated, p1.respond.met) == ("P1", 3, 2)
    assert p2.respond.percent is None and p2.respond.passing is None
    assert p3.resolve.percent == "0.0000"
    assert p4.respond.evaluated == 0


@pytest.mark.parametrize(
    ("evaluated", "met", "target", "percent", "passing"),
    [
        (20, 19, "95", "95.0000", True),  # exactly the target passes
        (21, 19, "90.5", "90.4761", False),  # 90.476190...: truncated, and failing
        (3, 2, "66.6666", "66.6666", True),  # 66.66666... >= 66.6666
        (3, 2, "66.6667", "66.6666", False),  # never rounded up into passing
        (0, 0, "95", None, None),
    ],
)
def test_tally_compares_the_exact_ratio(
    evaluated: int, met: int, target: str, percent: str | None, passing: bool | None
) -> None:
    found = tally(evaluated, met, Decimal(target))
    assert (found.percent, found.passing) == (percent, passing)
