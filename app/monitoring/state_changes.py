"""State changes: the instants where a monitor (under its quorum) or a service changes
between UP, DOWN and NO DATA, stored as rows for notifications, incidents and status
pages to hang on.

After each fold the folder calls ``record_changes`` with the earliest instant whose
segments may have changed per monitor. The monitor's and then its service's states are
recomputed from that instant on (``app.sla.timeline.transitions``) and the stored rows
from there on are *reconciled* with them: a row whose change is still there keeps its
id and its processed mark and only moves (a late result that moves an outage's start
updates its row), rows of changes that vanished are deleted, new ones are inserted. So
any arrival order of the results ends in the same rows.

Consumers claim due rows (``claim``) with a lease, handle them and ``complete`` them:
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE`` on SQLite (as
healthchecks does with its flips). ``run_dispatcher`` is that loop, handing each batch
to the registered handlers (today the log; next the notifier and the incident opener).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from sqlalchemy import ColumnElement, and_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import LocationSegment, Monitor, StateChange
from app.sla.intervals import Interval
from app.sla.periods import utc_text
from app.sla.timeline import Segment, State, States, Transition, monitor_states, service_states
from app.sla.timeline import transitions as state_transitions

log = logging.getLogger(__name__)

MONITOR = "monitor"
SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Change:
    """A stored state change, detached from the session (what handlers receive)."""

    id: int
    subject: str
    subject_id: int
    at: int
    old: str
    new: str
    reason: str

    @classmethod
    def of(cls, row: StateChange) -> Change:
        return cls(row.id, row.subject, row.subject_id, row.at, row.old, row.new, row.reason)


# --- recording ------------------------------------------------------------------------


async def record_changes(session: AsyncSession, changed: Mapping[int, int]) -> set[int]:
    """Reconcile the state changes of these monitors (``monitor id -> earliest instant
    whose segments may have changed``) and of their services, in the caller's
    transaction. Returns the ids of the services touched."""
    if not changed:
        return set()
    rows = await session.execute(
        select(Monitor.id, Monitor.service_id, Monitor.quorum)
        .where(Monitor.id.in_(list(changed)))
        .order_by(Monitor.id)
    )
    service_from: dict[int, int] = {}
    for monitor_id, service_id, quorum in rows.all():
        since = changed[monitor_id]
        await recompute_monitor(session, monitor_id, quorum, since)
        service_from[service_id] = min(since, service_from.get(service_id, since))
    for service_id, since in sorted(service_from.items()):
        await recompute_service(session, service_id, since)
    return set(service_from)


async def _segments(
    session: AsyncSession, monitor_ids: Sequence[int], since: int
) -> dict[int, dict[str, list[Segment]]]:
    """Each monitor's segments per location that reach past ``since - 1``."""
    found: dict[int, dict[str, list[Segment]]] = defaultdict(lambda: defaultdict(list))
    if not monitor_ids:
        return found
    query = select(
        LocationSegment.monitor_id,
        LocationSegment.location,
        LocationSegment.start,
        LocationSegment.end,
        LocationSegment.failing,
    ).where(LocationSegment.monitor_id.in_(monitor_ids), LocationSegment.end >= since)
    for monitor_id, location, start, end, failing in await session.execute(query):
        found[monitor_id][location].append(Segment(start, end, failing))
    return found


def _window(since: int, segments: Mapping[int, Mapping[str, list[Segment]]]) -> Interval:
    """From the second before ``since`` (the state changes start from) to one second
    past the last fresh data (where NO DATA begins)."""
    ends = [s.end for locations in segments.values() for segs in locations.values() for s in segs]
    return (since - 1, max([since, *ends]) + 1)


async def recompute_monitor(
    session: AsyncSession, monitor_id: int, quorum: int, since: int
) -> None:
    segments = await _segments(session, [monitor_id], since)
    window = _window(since, segments)
    locations = segments[monitor_id]
    states = monitor_states(list(locations.values()), quorum, window)
    wanted = [
        (change, monitor_reason(change, locations, quorum))
        for change in state_transitions(states, window)
    ]
    await _reconcile(session, MONITOR, monitor_id, since, wanted)


async def recompute_service(session: AsyncSession, service_id: int, since: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Folders in several processes may touch one service's monitors at once.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(1, :key)"), {"key": service_id % 2**31}
        )
    monitors = (
        await session.execute(
            select(Monitor.id, Monitor.name, Monitor.quorum).where(Monitor.service_id == service_id)
        )
    ).all()
    segments = await _segments(session, [m[0] for m in monitors], since)
    window = _window(since, segments)
    per_monitor = {
        name: monitor_states(list(segments[monitor_id].values()), quorum, window)
        for monitor_id, name, quorum in monitors
    }
    states = service_states(list(per_monitor.values()), window)
    wanted = [
        (change, service_reason(change, per_monitor))
        for change in state_transitions(states, window)
    ]
    await _reconcile(session, SERVICE, service_id, since, wanted)


async def _reconcile(
    session: AsyncSession,
    subject: str,
    subject_id: int,
    since: int,
    wanted: Sequence[tuple[Transition, str]],
) -> None:
    """Make the stored changes at or after ``since`` equal ``wanted``, keeping the rows
    (and their processed marks) of changes that are still there."""
    stored = list(
        await session.scalars(
            select(StateChange)
            .where(
                StateChange.subject == subject,
                StateChange.subject_id == subject_id,
                StateChange.at >= since,
            )
            .order_by(StateChange.at, StateChange.id)
        )
    )
    matcher = SequenceMatcher(
        None,
        [(row.old, row.new) for row in stored],
        [(change.old.value, change.new.value) for change, _ in wanted],
        autojunk=False,
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for row, (change, reason) in zip(stored[i1:i2], wanted[j1:j2], strict=True):
                if (row.at, row.reason) != (change.at, reason):
                    row.at, row.reason = change.at, reason
            continue
        for row in stored[i1:i2]:
            await session.delete(row)
        session.add_all(
            StateChange(
                subject=subject,
                subject_id=subject_id,
                at=change.at,
                old=change.old.value,
                new=change.new.value,
                reason=reason,
            )
            for change, reason in wanted[j1:j2]
        )
    await session.flush()


async def forget(session: AsyncSession, subject: str, subject_id: int) -> None:
    """Remove a deleted monitor's or service's changes."""
    for row in await session.scalars(
        select(StateChange).where(
            StateChange.subject == subject, StateChange.subject_id == subject_id
        )
    ):
        await session.delete(row)


# --- reasons (what a person reads in a notification or on a status page) ---------------


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


# --- consuming ------------------------------------------------------------------------


def _due(now: int) -> ColumnElement[bool]:
    return and_(
        StateChange.processed_at.is_(None),
        StateChange.at <= now,
        or_(StateChange.claimed_until.is_(None), StateChange.claimed_until < now),
    )


async def claim(
    session: AsyncSession, consumer: str, now: int, limit: int = 100, lease_seconds: int = 60
) -> tuple[str, list[Change]]:
    """Claim up to ``limit`` due, unprocessed changes for ``lease_seconds``, oldest
    first, in the caller's transaction (commit to make the claim visible). Returns the
    claim's token (for ``complete``) and the changes. Two consumers never hold one row."""
    token = f"{consumer[:40]}:{uuid.uuid4().hex[:16]}"
    due = _due(now)
    order = (StateChange.at, StateChange.id)
    if session.get_bind().dialect.name == "postgresql":
        ids = list(
            await session.scalars(
                select(StateChange.id)
                .where(due)
                .order_by(*order)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        condition: ColumnElement[bool] = StateChange.id.in_(ids)
    else:
        # SQLite has one writer at a time: the conditional UPDATE is the claim.
        chosen = select(StateChange.id).where(due).order_by(*order).limit(limit)
        condition = and_(StateChange.id.in_(chosen.scalar_subquery()), due)
    await session.execute(
        update(StateChange)
        .where(condition)
        .values(claimed_by=token, claimed_until=now + lease_seconds)
        .execution_options(synchronize_session=False)
    )
    rows = await session.scalars(
        select(StateChange).where(StateChange.claimed_by == token).order_by(*order)
    )
    return token, [Change.of(row) for row in rows]


async def complete(session: AsyncSession, token: str, ids: Sequence[int], now: int) -> int:
    """Mark claimed changes processed; a row whose lease ran out and was claimed by
    someone else is not touched. Returns the rows marked."""
    result = await session.execute(
        update(StateChange)
        .where(StateChange.id.in_(list(ids)), StateChange.claimed_by == token)
        .values(processed_at=now, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


Handler = Callable[[Sequence[Change]], Awaitable[None]]


async def log_changes(changes: Sequence[Change]) -> None:
    """The first handler: one log line per confirmed change."""
    for change in changes:
        log.info(
            "%s %d %s -> %s at %s: %s",
            change.subject,
            change.subject_id,
            change.old,
            change.new,
            utc_text(change.at),
            change.reason,
        )


async def dispatch_once(
    sessions: async_sessionmaker[AsyncSession],
    handlers: Sequence[Handler],
    consumer: str,
    now: int,
    limit: int = 100,
) -> int:
    """Claim a batch, hand it to every handler, mark it processed. A handler that
    raises leaves the batch claimed; it is retried when the lease runs out."""
    async with sessions() as session, session.begin():
        token, changes = await claim(session, consumer, now, limit)
    if not changes:
        return 0
    for handler in handlers:
        await handler(changes)
    async with sessions() as session, session.begin():
        return await complete(session, token, [c.id for c in changes], now)


async def run_dispatcher(
    sessions: async_sessionmaker[AsyncSession],
    handlers: Sequence[Handler],
    every: float,
    stop: asyncio.Event,
    clock: Callable[[], float] = time.time,
) -> None:
    """Hand due changes to the handlers every ``every`` seconds until ``stop``."""
    consumer = f"dispatcher-{uuid.uuid4().hex[:8]}"
    while not stop.is_set():
        try:
            while await dispatch_once(sessions, handlers, consumer, int(clock())):
                pass
        except Exception:
            log.exception("dispatching state changes failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
