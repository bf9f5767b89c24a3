"""An incident's two clocks, from its events (SLA_RULES.md section 8). Pure: standard
library only, instants as epoch seconds, ``now`` an argument.

``replay`` folds the events, in order, into the incident's state and the spans its
clocks stand still; ``clocks`` then measures both clocks with the targets of the
incident's *current* priority, from the original start (a priority change applies its
target and calendar from the start: the clock keeps running, and a raised priority
may be breached at once).

- Response runs from ``opened_at`` until the first acknowledgement (a human's: the
  system writes no acknowledgements). It stands still while the incident is
  resolved: one resolved before anyone acknowledged it stopped the response clock
  (nothing was left to respond to); a reopen before an acknowledgement resumes it.
  A pause does not stop it.
- Resolution runs from ``opened_at`` until resolved, and stands still while paused
  (waiting on the customer); a reopen resumes it.

``met`` is True or False once a clock has stopped, False as soon as ``elapsed`` passes
the target even while it runs, None otherwise. ``due_at`` is the instant ``elapsed``
reaches the target: for a stopped clock, the instant it would have had it kept
running; for a paused one, None unless it fell due before the pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from app.sla.business_time import FOREVER, due_at, elapsed
from app.sla.calendars import Calendar
from app.sla.intervals import Interval

PRIORITIES = ("P1", "P2", "P3", "P4")


class Kind(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    COMMENT = "comment"
    PAUSE = "pause"
    RESUME = "resume"
    PRIORITY = "priority"
    RESOLVE = "resolve"
    REOPEN = "reopen"


class State(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    PAUSED = "paused"
    RESOLVED = "resolved"


class Event(NamedTuple):
    """What the clocks need of an event."""

    kind: str
    at: int
    priority: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """One priority's support target: minutes to respond and to resolve, on a
    calendar (None: 24/7)."""

    respond_minutes: int
    resolve_minutes: int
    calendar: Calendar | None = None


class Replayed(NamedTuple):
    """An incident's events folded: its state now, and when its clocks stood still."""

    state: State
    priority: str
    acknowledged_at: int | None
    resolved_at: int | None  # the latest resolution, while resolved
    # Resolved spans (the last one open-ended while resolved): both clocks stand still.
    resolved: tuple[Interval, ...]
    # Paused spans (the last one open-ended while paused): resolution stands still.
    paused: tuple[Interval, ...]
    # Paused and resolved spans together, in order: where resolution stood still.
    still: tuple[Interval, ...]


def refusal(state: State, acknowledged: bool, event: Event) -> str | None:
    """Why ``event`` cannot follow in ``state`` (None: it can). The API refuses such
    events; ``replay`` of stored history skips them (the system's own events may land
    before an operator's, e.g. an outage's end found after an operator paused)."""
    kind = event.kind
    if kind == Kind.ACKNOWLEDGE and acknowledged:
        return "the incident is already acknowledged"
    if kind == Kind.PAUSE and state in (State.PAUSED, State.RESOLVED):
        return f"a {state} incident cannot be paused"
    if kind == Kind.RESUME and state != State.PAUSED:
        return "only a paused incident can be resumed"
    if kind == Kind.RESOLVE and state == State.RESOLVED:
        return "the incident is already resolved"
    if kind == Kind.REOPEN and state != State.RESOLVED:
        return "only a resolved incident can be reopened"
    if kind == Kind.PRIORITY and event.priority not in PRIORITIES:
        return f"a priority change needs a priority, one of {', '.join(PRIORITIES)}"
    return None


# Plain names for the loop below (an enum's attribute look-up costs more than the
# comparison; a month's compliance replays 100,000 incidents).
_ACKNOWLEDGE, _PAUSE, _RESUME = Kind.ACKNOWLEDGE.value, Kind.PAUSE.value, Kind.RESUME.value
_PRIORITY, _RESOLVE, _REOPEN = Kind.PRIORITY.value, Kind.RESOLVE.value, Kind.REOPEN.value
_OPEN, _ACKNOWLEDGED, _PAUSED, _RESOLVED = (
    State.OPEN,
    State.ACKNOWLEDGED,
    State.PAUSED,
    State.RESOLVED,
)


def replay(opened_at: int, priority: str, events: Iterable[Event]) -> Replayed:
    """Fold ``events`` (sorted by time, ties in recorded order) from ``opened_at``,
    skipping what ``refusal`` would refuse (the same rules, inline)."""
    state, acknowledged_at = _OPEN, None
    resolved: list[Interval] = []
    paused: list[Interval] = []
    still: list[Interval] = []
    since = opened_at  # when the current pause or resolution began
    for kind, at, new_priority in events:
        if kind == _ACKNOWLEDGE:
            if acknowledged_at is None:
                acknowledged_at = at
                if state is _OPEN:
                    state = _ACKNOWLEDGED
        elif kind == _RESOLVE:
            if state is not _RESOLVED:
                if state is _PAUSED:
                    paused.append((since, at))
                    still.append((since, at))
                state, since = _RESOLVED, at
        elif kind == _PAUSE:
            if state is not _PAUSED and state is not _RESOLVED:
                state, since = _PAUSED, at
        elif kind == _RESUME:
            if state is _PAUSED:
                paused.append((since, at))
                still.append((since, at))
                state = _OPEN if acknowledged_at is None else _ACKNOWLEDGED
        elif kind == _REOPEN:
            if state is _RESOLVED:
                resolved.append((since, at))
                still.append((since, at))
                state = _OPEN if acknowledged_at is None else _ACKNOWLEDGED
        elif kind == _PRIORITY and new_priority in PRIORITIES:
            assert new_priority is not None
            priority = new_priority
    if state is _RESOLVED:
        resolved.append((since, FOREVER))
        still.append((since, FOREVER))
    elif state is _PAUSED:
        paused.append((since, FOREVER))
        still.append((since, FOREVER))
    return Replayed(
        state,
        priority,
        acknowledged_at,
        since if state is _RESOLVED else None,
        tuple(resolved),
        tuple(paused),
        tuple(still),
    )


class Clock(NamedTuple):
    """One clock at ``now``. Without a target for the priority, only ``elapsed_seconds``
    (24/7) is known."""

    target_minutes: int | None
    elapsed_seconds: int
    due_at: int | None
    met: bool | None
    stopped: bool


class Clocks(NamedTuple):
    respond: Clock
    resolve: Clock


def _met(seconds: int, target: int, stopped: bool) -> bool | None:
    if seconds > target:
        return False
    return True if stopped else None


def clocks(
    opened_at: int, replayed: Replayed, target: Target | None, now: int, *, with_due: bool = True
) -> Clocks:
    """Both clocks of an incident at ``now`` (``target``: its current priority's).
    ``with_due=False`` leaves ``due_at`` out (compliance needs only ``met``; a month's
    compliance measures many clocks, hence the plain code)."""
    calendar = target.calendar if target is not None else None
    resolved = replayed.resolved
    ended = resolved[-1] if replayed.state is State.RESOLVED else None
    ack = replayed.acknowledged_at
    # Response: until the acknowledgement, standing still while resolved.
    respond_stop = min(ack, now) if ack is not None else now
    respond_stopped = ack is not None or ended is not None
    # What stopped it for good, if a resolution did (before any acknowledgement).
    respond_ended = ended if ended is not None and (ack is None or ack >= ended[0]) else None
    respond_seconds = elapsed(calendar, opened_at, respond_stop, resolved)
    # Resolution: until resolved, standing still while paused or resolved.
    still = replayed.still
    resolve_seconds = elapsed(calendar, opened_at, now, still)
    if target is None:
        return Clocks(
            Clock(None, respond_seconds, None, None, respond_stopped),
            Clock(None, resolve_seconds, None, None, ended is not None),
        )
    respond_target, resolve_target = target.respond_minutes * 60, target.resolve_minutes * 60
    respond_due = resolve_due = None
    if with_due:
        # A stopped clock's due date is the one it would have had running on.
        # (an acknowledged clock: only the spans before the acknowledgement matter)
        respond_due = due_at(
            calendar,
            opened_at,
            respond_target,
            [s for s in resolved if s != respond_ended and (ack is None or s[0] < ack)],
        )
        resolve_due = due_at(calendar, opened_at, resolve_target, [s for s in still if s != ended])
    return Clocks(
        Clock(
            target.respond_minutes,
            respond_seconds,
            respond_due,
            _met(respond_seconds, respond_target, respond_stopped),
            respond_stopped,
        ),
        Clock(
            target.resolve_minutes,
            resolve_seconds,
            resolve_due,
            _met(resolve_seconds, resolve_target, ended is not None),
            ended is not None,
        ),
    )


def verdicts(
    opened_at: int, replayed: Replayed, target: Target | None, now: int
) -> tuple[bool | None, bool | None]:
    """``met`` of both clocks, as ``clocks`` gives them, with nothing else computed:
    what a month's compliance needs of each of its incidents."""
    if target is None:
        return None, None
    calendar, resolved = target.calendar, replayed.resolved
    ack = replayed.acknowledged_at
    is_resolved = replayed.state is _RESOLVED
    respond_stop = now if ack is None or ack > now else ack
    respond = _met(
        elapsed(calendar, opened_at, respond_stop, resolved),
        target.respond_minutes * 60,
        ack is not None or is_resolved,
    )
    resolve = _met(
        elapsed(calendar, opened_at, now, replayed.still),
        target.resolve_minutes * 60,
        is_resolved,
    )
    return respond, resolve


def targets_by_priority(
    rows: Iterable[Mapping[str, object]], calendars: Mapping[int, Calendar]
) -> dict[str, Target]:
    """A policy's ``support_targets`` rows as Targets by priority (a row naming a
    calendar that is not in ``calendars`` is counted 24/7 — the API never lets one be
    stored)."""
    found: dict[str, Target] = {}
    for row in rows:
        calendar_id = row.get("calendar_id")
        found[str(row["priority"])] = Target(
            int(str(row["respond_minutes"])),
            int(str(row["resolve_minutes"])),
            calendars.get(calendar_id) if isinstance(calendar_id, int) else None,
        )
    return found
