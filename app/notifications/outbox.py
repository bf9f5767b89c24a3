"""The outbox: messages and their deliveries in the database.

``enqueue`` writes a message (unless one with its key exists) and a pending delivery
per recipient. ``claim`` takes due deliveries with a lease, as state changes are
claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE`` on
SQLite), so several processes never send one delivery at once and a process that
dies lets its deliveries go when the lease runs out. ``finish`` records each outcome:
sent, or failed and due again after a back-off, or given up after the last attempt.
Once a delivery is done its URL is dropped: the record keeps it masked.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import NotificationDelivery, NotificationMessage
from app.notifications.channels import Recipient, mask
from app.notifications.messages import Message, retry_delay

PENDING, SENT, FAILED = "pending", "sent", "failed"


async def enqueue(
    session: AsyncSession, message: Message, recipients: Sequence[Recipient], now: int
) -> bool:
    """Write the message and a pending delivery to each recipient, in the caller's
    transaction; nothing when there is no recipient, or the message was written
    before (same key). Returns whether it was written."""
    if not recipients:
        return False
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    subject = message.subject
    statement = (
        insert(NotificationMessage)
        .values(
            key=message.key,
            event=message.event,
            customer_id=subject.customer_id,
            service_id=subject.service_id,
            monitor_id=subject.monitor_id,
            title=message.title[:250],
            body=message.body[:2000],
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(NotificationMessage.id)
    )
    message_id = await session.scalar(statement)
    if message_id is None:
        return False  # decided before
    session.add_all(
        NotificationDelivery(
            message_id=message_id,
            channel_id=recipient.channel_id,
            url=recipient.url,
            channel=mask(recipient.url),
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for recipient in recipients
    )
    await session.flush()
    return True


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery, detached from the session: what the sender needs."""

    id: int
    url: str
    title: str
    body: str
    event: str
    attempts: int


def _due(now: int) -> ColumnElement[bool]:
    """Pending, and new (due at once, whatever the deciding clock said) or due again."""
    return and_(
        NotificationDelivery.status == PENDING,
        or_(NotificationDelivery.attempts == 0, NotificationDelivery.next_attempt_at <= now),
        or_(
            NotificationDelivery.claimed_until.is_(None),
            NotificationDelivery.claimed_until < now,
        ),
    )


async def claim(
    session: AsyncSession, consumer: str, now: int, limit: int, lease_seconds: int
) -> tuple[str, list[Due]]:
    """Claim up to ``limit`` due deliveries, oldest due first, in the caller's
    transaction (commit to make the claim visible)."""
    token = f"{consumer[:40]}:{uuid.uuid4().hex[:16]}"
    due = _due(now)
    order = (NotificationDelivery.next_attempt_at, NotificationDelivery.id)
    if session.get_bind().dialect.name == "postgresql":
        ids = list(
            await session.scalars(
                select(NotificationDelivery.id)
                .where(due)
                .order_by(*order)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        condition: ColumnElement[bool] = NotificationDelivery.id.in_(ids)
    else:
        # SQLite has one writer at a time: the conditional UPDATE is the claim.
        chosen = select(NotificationDelivery.id).where(due).order_by(*order).limit(limit)
        condition = and_(NotificationDelivery.id.in_(chosen.scalar_subquery()), due)
    await session.execute(
        update(NotificationDelivery)
        .where(condition)
        .values(claimed_by=token, claimed_until=now + lease_seconds)
        .execution_options(synchronize_session=False)
    )
    rows = await session.execute(
        select(
            NotificationDelivery.id,
            NotificationDelivery.url,
            NotificationMessage.title,
            NotificationMessage.body,
            NotificationMessage.event,
            NotificationDelivery.attempts,
        )
        .join(NotificationMessage, NotificationMessage.id == NotificationDelivery.message_id)
        .where(NotificationDelivery.claimed_by == token)
        .order_by(*order)
    )
    return token, [Due(r[0], r[1] or "", r[2], r[3], r[4], r[5]) for r in rows]


@dataclass(frozen=True, slots=True)
class Retry:
    first: float
    maximum: float
    attempts: int  # the most attempts before giving up


async def finish(
    session: AsyncSession,
    token: str,
    due: Due,
    error: str | None,
    now: int,
    retry: Retry,
) -> str:
    """Record one attempt's outcome (``error`` None: sent). Returns the new status; a
    delivery whose lease ran out and was claimed again by another is left alone."""
    attempts = due.attempts + 1
    values: dict[str, object]
    if error is None:
        values = {"status": SENT, "sent_at": now, "url": None, "last_error": None}
    elif attempts >= retry.attempts:
        values = {"status": FAILED, "url": None, "last_error": error[:1000]}
    else:
        values = {
            "next_attempt_at": now + retry_delay(attempts, retry.first, retry.maximum),
            "last_error": error[:1000],
        }
    status = str(values.get("status", PENDING))
    result = await session.execute(
        update(NotificationDelivery)
        .where(NotificationDelivery.id == due.id, NotificationDelivery.claimed_by == token)
        .values(attempts=attempts, claimed_by=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return status if result.rowcount else "lost"  # type: ignore[attr-defined]


async def prune(session: AsyncSession, before: int) -> int:
    """Forget messages (and their deliveries) decided before ``before`` whose
    deliveries are all done."""
    still_pending = select(NotificationDelivery.message_id).where(
        NotificationDelivery.status == PENDING
    )
    result = await session.execute(
        delete(NotificationMessage)
        .where(
            NotificationMessage.created_at < before,
            NotificationMessage.id.not_in(still_pending),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
