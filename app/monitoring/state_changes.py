"""State changes: the instants where a monitor (under its quorum) or a service changes
between UP, DOWN and NO DATA, stored as rows for notifications, incidents and status
pages to hang on.

After each fold the folder calls ``record_changes`` with the earliest instant whose
segments may have changed per monitor. The monitor's and then its service's states are
recomputed from that instant on (``app.sla.timeline.transitions``) and the stored rows
from there on are *reconciled* with them: a row whose change is still there keeps its
id and its processed mark and only moves (a late result that moves an outage's start
updates its row), rows of changes that vanished are deleted, new ones are inserted. So
any arrival order of the results ends in the same rows. One fold pass costs a few
queries, whatever the number of monitors it touched.

Consumers claim and complete the rows through ``app.monitoring.dispatch``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Select,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Monitor, StateChange
from app.monitoring.change_reasons import monitor_reason, service_reason
from app.reporting.load import load_segments, per_id
from app.sla.intervals import Interval
from app.sla.timeline import Segment, State, Transition, monitor_states, service_states
from app.sla.timeline import transitions as state_transitions
from app.sla.uptime import FOREVER

MONITOR = "monitor"
SERVICE = "service"


# --- recording ------------------------------------------------------------------------

CHUNK = 500  # ids per IN list (SQLite's limit on bound parameters is far above)


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    ordered = sorted(ids)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


async def record_changes(session: AsyncSession, changed: Mapping[int, int]) -> set[int]:
    """Reconcile the state changes of these monitors (``monitor id -> earliest instant
    whose segments may have changed``) and of their services, in the caller's
    transaction. Returns the ids of the services whose history of changes changed
    (``Writes.changed``): what their figures are computed from changed too, beyond the
    slow growth of the current month that a periodic full refresh follows."""
    services: dict[int, int] = {}
    service_of: dict[int, int] = {}
    for chunk in _chunks(list(changed)):
        rows = await session.execute(
            select(Monitor.id, Monitor.service_id).where(Monitor.id.in_(chunk))
        )
        for monitor_id, service_id in rows:
            since = changed[monitor_id]
            services[service_id] = min(since, services.get(service_id, since))
            service_of[monitor_id] = service_id
    writes = await recompute(session, {m: changed[m] for m in changed}, services)
    return {
        subject_id if subject == SERVICE else service_of[subject_id]
        for subject, subject_id in writes.changed
        if subject == SERVICE or subject_id in service_of
    }


async def recompute_history(session: AsyncSession, service_id: int, monitor_id: int | None) -> None:
    """Recompute every change of a monitor (its quorum changed) and of its service, or
    of the service alone (a monitor was deleted): a catalog edit, not a fold."""
    await recompute(session, {monitor_id: 0} if monitor_id is not None else {}, {service_id: 0})


async def recompute(
    session: AsyncSession, monitors: Mapping[int, int], services: Mapping[int, int]
) -> Writes:
    """Recompute the given monitors' and services' states from their instants on and
    reconcile their stored changes: a few queries for any number of them."""
    writes = Writes(int(time.time()))
    if not services:
        return writes
    await _lock(session, list(services))
    family: dict[int, list[tuple[int, str, int]]] = defaultdict(list)  # service -> monitors
    for chunk in _chunks(list(services)):
        rows = await session.execute(
            select(Monitor.service_id, Monitor.id, Monitor.name, Monitor.quorum).where(
                Monitor.service_id.in_(chunk)
            )
        )
        for service_id, monitor_id, name, quorum in rows:
            family[service_id].append((monitor_id, name, quorum))
    service_of = {m: sid for sid, members in family.items() for m, _, _ in members}
    quorums = {m: q for members in family.values() for m, _, q in members}
    # Subjects whose instants lie close together share queries; one far back (a late
    # result from last week) does not make the others load a week of history.
    for since_group, group in _groups(services):
        members_ids = [m for sid in group for m, _, _ in family[sid]]
        group_monitors = {m: t for m, t in monitors.items() if service_of.get(m) in group}
        # Segments reaching past since - 1: the state changes start from that second.
        segments = await load_segments(session, members_ids, (since_group - 1, FOREVER))
        stored = await _stored(session, list(group_monitors), group, since_group)

        for monitor_id, since in sorted(group_monitors.items()):
            locations = segments[monitor_id]
            window = _window(since, {monitor_id: locations})
            states = monitor_states(list(locations.values()), quorums[monitor_id], window)
            wanted = [
                (change, monitor_reason(change, locations, quorums[monitor_id]))
                for change in state_transitions(states, window)
            ]
            writes.reconcile(MONITOR, monitor_id, since, stored[MONITOR, monitor_id], wanted)

        for service_id in group:
            since, members = services[service_id], family[service_id]
            window = _window(since, {m: segments[m] for m, _, _ in members})
            per_monitor = {
                name: monitor_states(list(segments[m].values()), quorum, window)
                for m, name, quorum in members
            }
            states = service_states(list(per_monitor.values()), window)
            wanted = [
                (change, service_reason(change, per_monitor))
                for change in state_transitions(states, window)
            ]
            writes.reconcile(SERVICE, service_id, since, stored[SERVICE, service_id], wanted)
    await writes.apply(session)
    return writes


GROUP_REACH = 86_400  # seconds: instants within this of a group's earliest share it


def _groups(services: Mapping[int, int]) -> list[tuple[int, list[int]]]:
    """Services grouped by how far back they need recomputing: (earliest, ids)."""
    groups: list[tuple[int, list[int]]] = []
    for service_id, since in sorted(services.items(), key=lambda item: (item[1], item[0])):
        if groups and since - groups[-1][0] <= GROUP_REACH:
            groups[-1][1].append(service_id)
        else:
            groups.append((since, [service_id]))
    return groups


async def _lock(session: AsyncSession, service_ids: list[int]) -> None:
    """On PostgreSQL, folders in several processes may touch one service's monitors at
    once: take each service's advisory lock (in id order, so two folders never wait on
    each other in a cycle), released at commit."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(1, key) FROM "
            "(SELECT unnest(CAST(:keys AS int[])) AS key ORDER BY 1) AS ordered"
        ),
        {"keys": sorted({service_id % 2**31 for service_id in service_ids})},
    )


class Row(NamedTuple):
    """A stored change as reconciling needs it: plain tuples, not ORM objects (a fold
    touches two rows per result, and ORM loading and flushing cost more than the
    rest of the reconciling together)."""

    id: int
    subject_id: int
    at: int
    old: str
    new: str
    reason: str
    processed: bool


_table = cast(Table, StateChange.__table__)


def _row_of(source: FromClause) -> tuple[ColumnElement[Any], ...]:
    """The columns of a ``Row``, from the table or a subquery of it."""
    c = source.c
    return (c.id, c.subject_id, c.at, c.old, c.new, c.reason, c.processed_at.is_not(None))


async def _stored(
    session: AsyncSession, monitor_ids: list[int], service_ids: list[int], since: int
) -> dict[tuple[str, int], list[Row]]:
    """The stored changes of these subjects from ``since`` on, in order."""
    found: dict[tuple[str, int], list[Row]] = defaultdict(list)
    postgresql = session.get_bind().dialect.name == "postgresql"
    for subject, ids in ((MONITOR, monitor_ids), (SERVICE, service_ids)):
        for chunk in _chunks(ids):
            query: Select[Any]
            if postgresql:  # an index probe per subject (app.reporting.load.per_id)
                rows = await session.execute(_probes(subject), {"ids": chunk, "since": since})
            else:
                query = (
                    select(*_row_of(_table))
                    .where(
                        _table.c.subject == subject,
                        _table.c.subject_id.in_(chunk),
                        _table.c.at >= since,
                    )
                    .order_by(_table.c.at, _table.c.id)
                )
                rows = await session.execute(query)
            for row in rows:
                found[subject, row[1]].append(Row(*row))
    return found


@cache
def _probes(subject: str) -> Select[Any]:
    """PostgreSQL: the subjects' changes from ``since`` on, one index probe per id in
    ``ids``; built once per subject. Built afresh for every chunk, its subqueries were
    most of the fold's cyclic garbage (~1,800 objects per 100 folded pairs)."""
    since = bindparam("since", type_=BigInteger)
    held = per_id(partial(_changes_since, subject, since)).subquery()
    return select(*_row_of(held)).order_by(held.c.at, held.c.id)


def _changes_since(
    subject: str, since: int | ColumnElement[int], subject_id: ColumnElement[int]
) -> Select[Any]:
    """One subject's changes from ``since`` on: equality on both leading columns of
    ix_state_changes_subject_at, so each subject is one short range of it."""
    return select(_table).where(
        _table.c.subject == subject, _table.c.subject_id == subject_id, _table.c.at >= since
    )


def _window(since: int, segments: Mapping[int, Mapping[str, list[Segment]]]) -> Interval:
    """From the second before ``since`` (the state changes start from) to one second
    past the last fresh data (where NO DATA begins)."""
    ends = [s.end for locations in segments.values() for segs in locations.values() for s in segs]
    return (since - 1, max([since, *ends]) + 1)


@dataclass(frozen=True, slots=True)
class Stored:
    """What matching needs of a stored change."""

    at: int
    old: str
    new: str
    processed: bool


def match_changes(
    stored: Sequence[Stored], wanted: Sequence[tuple[int, str, str]]
) -> dict[int, int]:
    """Which stored change (index) each wanted change (index) continues, both in time
    order. A stored change continues a wanted one when they are the same transition
    and the state they enter overlaps in time (the same outage, recovery or silence,
    found a little earlier or later). A processed change into NO DATA may only move
    earlier: one that moves later is a new silence (the old one never happened), to be
    handled anew. Linear: both lists are walked once, in order."""
    matched: dict[int, int] = {}
    used: set[int] = set()

    def stored_end(i: int) -> int:
        return stored[i + 1].at if i + 1 < len(stored) else FOREVER

    first = 0
    for j, (at, old, new) in enumerate(wanted):
        end = wanted[j + 1][0] if j + 1 < len(wanted) else FOREVER
        while first < len(stored) and stored_end(first) <= at:
            first += 1
        i = first
        while i < len(stored) and stored[i].at < end:
            row = stored[i]
            later_silence = row.processed and new == State.NO_DATA and at > row.at
            if (
                i not in used
                and (row.old, row.new) == (old, new)
                and stored_end(i) > at
                and not later_silence
            ):
                matched[j] = i
                used.add(i)
                break
            i += 1
    return matched


class Writes:
    """What reconciling changes in the stored rows, written in a few statements at the
    end (a delete, an executemany update, an insert) whatever the number of rows.

    ``changed`` names the subjects whose history changed: a change added or removed,
    or moved to or from an instant at or before ``now``. A fresh result usually only
    moves the subject's change into NO DATA further into the future (the instant its
    data would go stale), which changes nothing that has happened."""

    def __init__(self, now: int) -> None:
        self.now = now
        self.deleted: list[int] = []
        self.moved: list[dict[str, Any]] = []
        self.added: list[dict[str, Any]] = []
        self.changed: set[tuple[str, int]] = set()

    def reconcile(
        self,
        subject: str,
        subject_id: int,
        since: int,
        stored: Sequence[Row],
        wanted: Sequence[tuple[Transition, str]],
    ) -> None:
        """Make the stored changes at or after ``since`` equal ``wanted``, keeping the
        rows (and their processed marks) of changes that continue (``match_changes``)."""
        rows = [row for row in stored if row.at >= since]
        matched = match_changes(
            [Stored(r.at, r.old, r.new, r.processed) for r in rows],
            [(change.at, change.old.value, change.new.value) for change, _ in wanted],
        )
        kept = set(matched.values())
        gone = [row.id for index, row in enumerate(rows) if index not in kept]
        if gone or len(matched) < len(wanted):
            self.changed.add((subject, subject_id))
        self.deleted.extend(gone)
        for j, (change, reason) in enumerate(wanted):
            if j in matched:
                row = rows[matched[j]]
                if (row.at, row.reason) != (change.at, reason):
                    self.moved.append({"row_id": row.id, "row_at": change.at, "row_reason": reason})
                    if min(row.at, change.at) <= self.now:
                        self.changed.add((subject, subject_id))
                continue
            self.added.append(
                {
                    "subject": subject,
                    "subject_id": subject_id,
                    "at": change.at,
                    "old": change.old.value,
                    "new": change.new.value,
                    "reason": reason,
                }
            )

    async def apply(self, session: AsyncSession) -> None:
        await session.flush()  # anything the caller left pending goes first
        for i in range(0, len(self.deleted), CHUNK):
            ids = self.deleted[i : i + CHUNK]
            await session.execute(delete(_table).where(_table.c.id.in_(ids)))
        if self.moved:
            await session.execute(
                update(_table)
                .where(_table.c.id == bindparam("row_id"))
                .values(at=bindparam("row_at"), reason=bindparam("row_reason")),
                self.moved,
            )
        if self.added:
            await session.execute(insert(_table), self.added)


async def forget(session: AsyncSession, subject: str, subject_id: int) -> None:
    """Remove a deleted monitor's or service's changes."""
    await session.execute(
        delete(StateChange).where(
            StateChange.subject == subject, StateChange.subject_id == subject_id
        )
    )
