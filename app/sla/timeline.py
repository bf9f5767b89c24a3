"""From check results to states over time (SLA_RULES.md section 2).

Three steps, each a pure function:

1. ``fold_location``: one monitor's results at one location -> the *fresh* time, split
   into up and failing segments. A result holds from its ``at`` until the next result,
   but no longer than twice the interval in force; a run of failures counts as failing
   only once it holds ``confirmations`` results, and then from its first result.
2. ``monitor_states``: the locations' segments -> the monitor's DOWN and NO DATA time
   under an N-of-M quorum.
3. ``service_states``: the monitors' states -> the service's DOWN (any monitor down)
   and NO DATA (not down, and no monitor up).

``transitions`` turns such states into the instants where they change, which the app
stores as state changes (for notifications, incidents and status pages).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.sla.intervals import Interval, subtract, union


@dataclass(frozen=True, slots=True)
class Observation:
    """One check result at one location."""

    at: int
    ok: bool
    interval: int


@dataclass(frozen=True, slots=True)
class Segment:
    """Fresh time at one location: ``failing`` or (if not) up."""

    start: int
    end: int
    failing: bool


@dataclass(frozen=True, slots=True)
class States:
    """Where something was DOWN and where it had NO DATA; the rest of the window is UP."""

    down: list[Interval]
    no_data: list[Interval]


def dedupe(observations: Iterable[Observation]) -> list[Observation]:
    """Sorted by time, one result per instant. Conflicting duplicates resolve by a fixed
    order (a failure before a success, then the shorter interval), so the outcome never
    depends on which copy arrived first. Storage applies the same order."""
    by_instant: dict[int, Observation] = {}
    for obs in observations:
        kept = by_instant.get(obs.at)
        if kept is None or (obs.ok, obs.interval) < (kept.ok, kept.interval):
            by_instant[obs.at] = obs
    return [by_instant[at] for at in sorted(by_instant)]


def failing_flags(results: Sequence[Observation], confirmations: int) -> list[bool]:
    """Which results belong to a confirmed failure run (at least ``confirmations``
    consecutive failed results; a shorter run is a blip and counts as up)."""
    flags = [False] * len(results)
    run_start = None
    for index, obs in enumerate([*results, Observation(0, True, 0)]):
        if not obs.ok:
            if run_start is None:
                run_start = index
            continue
        if run_start is not None and index - run_start >= confirmations:
            flags[run_start:index] = [True] * (index - run_start)
        run_start = None
    return flags


def fold_location(observations: Iterable[Observation], confirmations: int = 1) -> list[Segment]:
    results = dedupe(observations)
    flags = failing_flags(results, confirmations)
    segments: list[Segment] = []
    for index, obs in enumerate(results):
        end = obs.at + 2 * obs.interval
        if index + 1 < len(results):
            end = min(end, results[index + 1].at)
        if end <= obs.at:
            continue
        failing = flags[index]
        last = segments[-1] if segments else None
        if last and last.end == obs.at and last.failing == failing:
            segments[-1] = Segment(last.start, end, failing)
        else:
            segments.append(Segment(obs.at, end, failing))
    return segments


def monitor_states(locations: Sequence[Sequence[Segment]], quorum: int, window: Interval) -> States:
    """DOWN where at least ``quorum`` locations are failing; NO DATA where fewer than
    ``quorum`` locations have fresh data and it is not DOWN; UP elsewhere."""
    lo, hi = window
    if len(locations) == 1 and quorum == 1:  # the common case needs no sweep
        clipped = [(max(s.start, lo), min(s.end, hi), s.failing) for s in locations[0]]
        return States(
            union((a, b) for a, b, failing in clipped if failing),
            subtract([window], [(a, b) for a, b, _ in clipped if a < b]),
        )
    # Sweep the boundaries: +1/-1 to the count of fresh and of failing locations.
    deltas: dict[int, list[int]] = {}
    for segments in locations:
        for seg in segments:
            start, end = max(seg.start, lo), min(seg.end, hi)
            if start >= end:
                continue
            fail = 1 if seg.failing else 0
            deltas.setdefault(start, [0, 0])
            deltas.setdefault(end, [0, 0])
            deltas[start][0] += 1
            deltas[start][1] += fail
            deltas[end][0] -= 1
            deltas[end][1] -= fail
    down: list[Interval] = []
    no_data: list[Interval] = []
    fresh = failing = 0
    cursor = lo
    for point in sorted(deltas):
        _mark(cursor, point, fresh, failing, quorum, down, no_data)
        fresh += deltas[point][0]
        failing += deltas[point][1]
        cursor = point
    _mark(cursor, hi, fresh, failing, quorum, down, no_data)
    return States(union(down), union(no_data))


def _mark(
    start: int,
    end: int,
    fresh: int,
    failing: int,
    quorum: int,
    down: list[Interval],
    no_data: list[Interval],
) -> None:
    if start >= end:
        return
    if failing >= quorum:
        down.append((start, end))
    elif fresh < quorum:
        no_data.append((start, end))


def service_states(monitors: Sequence[States], window: Interval) -> States:
    """DOWN when any monitor is DOWN; NO DATA when not DOWN and no monitor is UP.

    A service with no monitors has no data at all.
    """
    if len(monitors) == 1:
        return monitors[0]  # the same by the definition, and the common case
    down = union(*(m.down for m in monitors))
    up = union(*(subtract([window], union(m.down, m.no_data)) for m in monitors))
    return States(down, subtract([window], union(down, up)))


def restart_point(results: Sequence[Observation], dirty_from: int) -> int | None:
    """Where re-folding must start when results at or after ``dirty_from`` changed:
    the last success before it. Nothing before a success can affect what follows it
    (a success ends every failure run), so the stored segments before it stay valid.
    ``None`` means fold from the very first result."""
    restart = None
    for obs in results:
        if obs.at >= dirty_from:
            break
        if obs.ok:
            restart = obs.at
    return restart


def first_difference(old: Sequence[Segment], new: Sequence[Segment]) -> int | None:
    """The earliest instant where two segment lists (sorted, as stored) disagree, or
    None if they are equal. A segment that only grew or shrank differs from its end."""
    for a, b in zip(old, new, strict=False):
        if a == b:
            continue
        if a.start == b.start and a.failing == b.failing:
            return min(a.end, b.end)
        return min(a.start, b.start)
    if len(old) == len(new):
        return None
    longer = old if len(old) > len(new) else new
    return longer[min(len(old), len(new))].start


def splice(
    stored: Sequence[Segment], refolded: Sequence[Segment], restart: int | None
) -> list[Segment]:
    """Replace everything from ``restart`` on with ``refolded`` (which starts there)."""
    if restart is None:
        return list(refolded)
    kept = [Segment(s.start, min(s.end, restart), s.failing) for s in stored if s.start < restart]
    if kept and refolded:
        last, first = kept[-1], refolded[0]
        if last.end == first.start and last.failing == first.failing:
            return [*kept[:-1], Segment(last.start, first.end, first.failing), *refolded[1:]]
    return [*kept, *refolded]


class State(StrEnum):
    UP = "up"
    DOWN = "down"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class Transition:
    at: int
    old: State
    new: State


def state_pieces(states: States, window: Interval) -> list[tuple[int, int, State]]:
    """The window cut into maximal ``(start, end, state)`` pieces, in order."""
    marked = [(s, e, State.DOWN) for s, e in states.down] + [
        (s, e, State.NO_DATA) for s, e in states.no_data
    ]
    pieces: list[tuple[int, int, State]] = []
    cursor = window[0]
    for start, end, state in sorted(marked):
        start, end = max(start, window[0]), min(end, window[1])
        if start >= end:
            continue
        if cursor < start:
            pieces.append((cursor, start, State.UP))
        pieces.append((start, end, state))
        cursor = max(cursor, end)
    if cursor < window[1]:
        pieces.append((cursor, window[1], State.UP))
    merged: list[tuple[int, int, State]] = []
    for piece in pieces:
        if merged and merged[-1][2] == piece[2] and merged[-1][1] == piece[0]:
            merged[-1] = (merged[-1][0], piece[1], piece[2])
        else:
            merged.append(piece)
    return merged


def transitions(states: States, window: Interval) -> list[Transition]:
    """Where the state changes inside ``window`` (DOWN and NO DATA as given, UP
    elsewhere). The state at the window's first second is the starting point, not a
    change; time past the window is not looked at."""
    pieces = state_pieces(states, window)
    return [
        Transition(current[0], previous[2], current[2])
        for previous, current in itertools.pairwise(pieces)
    ]
