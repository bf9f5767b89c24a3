"""Reasons: the line a person reads beside a state change, in a notification or on a
status page (which locations failed against which quorum; which monitors were down).
Pure functions of the change and the states it was computed from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.sla.intervals import Interval
from app.sla.periods import utc_text
from app.sla.timeline import Segment, State, States, Transition


def _covering(segments: Sequence[Segment], at: int) -> Segment | None:
    return next((s for s in segments if s.start <= at < s.end), None)


def monitor_reason(change: Transition, locations: Mapping[str, list[Segment]], quorum: int) -> str:
    covering = {name: _covering(segs, change.at) for name, segs in sorted(locations.items())}
    failing = [name for name, seg in covering.items() if seg is not None and seg.failing]
    fresh = [name for name, seg in covering.items() if seg is not None]
    if change.new is State.DOWN:
        text_ = f"failing at {len(failing)} location(s), quorum {quorum}: {', '.join(failing)}"
    elif change.new is State.UP:
        text_ = f"up at {len(fresh) - len(failing)} of {len(fresh)} location(s) with fresh data"
    else:
        text_ = f"fresh data from {len(fresh)} location(s), fewer than quorum {quorum}"
    return f"{text_} since {utc_text(change.at)}"[:500]


def service_reason(change: Transition, monitors: Mapping[str, States]) -> str:
    def within(intervals: Sequence[Interval]) -> bool:
        return any(s <= change.at < e for s, e in intervals)

    if change.new is State.DOWN:
        down = sorted(name for name, states in monitors.items() if within(states.down))
        text_ = f"monitor(s) down: {', '.join(down)}"
    elif change.new is State.UP:
        text_ = "no monitor down, at least one up"
    else:
        text_ = "no monitor down and none with fresh data"
    return f"{text_} since {utc_text(change.at)}"[:500]
