"""Consuming state changes: claims with a lease, completion, and the dispatcher.

Consumers claim due rows (``at`` passed, not processed) with a lease, handle them and
``complete`` them: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE`` on
SQLite (as healthchecks does with its flips), so two consumers never hold one row and
a consumer that dies lets its rows go when the lease runs out. ``run_dispatcher`` is
that loop in ``uptally serve``, handing each batch to the registered handlers: today
the log; next the notifier and the incident opener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.availability import unreachable
from app.models import StateChange
from app.monitoring.roster import MonitorRoster
from app.sla.periods import utc_text

log = logging.getLogger(__name__)


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


def describe(change: Change, roster: MonitorRoster | None = None) -> tuple[str, dict[str, Any]]:
    """A change as one log line (the subject by name where the roster knows it) and
    the same as fields (for JSON logs)."""
    fields: dict[str, Any] = {
        "event": "state_change",
        "subject": change.subject,
        "subject_id": change.subject_id,
        "old": change.old,
        "new": change.new,
        "at": utc_text(change.at),
        "reason": change.reason,
    }
    name = f"{change.subject} {change.subject_id}"
    monitor = change.subject == "monitor"
    entry = None
    if roster is not None:
        entry = roster.get(change.subject_id) if monitor else roster.of_service(change.subject_id)
    if entry is not None and monitor:
        name += f" {entry.name!r} ({entry.customer}/{entry.service})"
        fields.update(monitor=entry.name, customer=entry.customer, service=entry.service)
    elif entry is not None:
        name += f" {entry.customer}/{entry.service}"
        fields.update(customer=entry.customer, service=entry.service)
    line = f"{name}: {change.old} -> {change.new} at {utc_text(change.at)}: {change.reason}"
    return line, fields


def change_logger(roster: MonitorRoster | None = None) -> Handler:
    """The first handler: one log line per confirmed change (INFO), naming the monitor
    and its customer and service, the old and new state, and the reason (which names
    the failing locations)."""

    async def log_changes(changes: Sequence[Change]) -> None:
        for change in changes:
            line, fields = describe(change, roster)
            log.info("%s", line, extra=fields)

    return log_changes


log_changes = change_logger()  # without names (the roster), for callers that have none


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
    """Hand due changes to the handlers every ``every`` seconds until ``stop``; a
    stop is heeded between batches (a first start at 100,000 monitors has 200,000
    changes due at once, and a stop must not wait for all of them)."""
    consumer = f"dispatcher-{uuid.uuid4().hex[:8]}"
    while not stop.is_set():
        try:
            while not stop.is_set() and await dispatch_once(
                sessions, handlers, consumer, int(clock())
            ):
                pass
        except Exception as exc:
            if not unreachable(exc):  # an outage is logged once (app.availability)
                log.exception("dispatching state changes failed; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
