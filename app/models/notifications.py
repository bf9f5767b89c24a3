"""Notifications: where they go (Apprise URLs per customer and per service), what was
decided to be sent (messages, one per event, keyed so it is never decided twice),
each message's delivery to each channel (the outbox and the record of what was sent),
and the open episodes that reminders and "once per episode" events hang on.

Instants are epoch seconds, as in the timeline. Messages and deliveries name their
customer, service and monitor by id without a foreign key: the record of what was
sent outlives what it was about.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime
from app.models.catalog import NEVER_REUSE_IDS, Id


class NotificationChannel(Base):
    """One Apprise URL of a customer's or a service's list. The URL is a secret (it
    holds tokens and passwords): the API shows it masked, never whole."""

    __tablename__ = "notification_channels"
    __table_args__ = (
        CheckConstraint("(customer_id IS NULL) <> (service_id IS NULL)", name="one_owner"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), nullable=True, index=True
    )
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), nullable=True, index=True
    )
    url: Mapped[str] = mapped_column(String(2048))
    # The events this channel wants (app.notifications.events.EVENTS); all by default.
    events: Mapped[list[str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationMessage(Base):
    """One event to tell someone about. ``key`` makes deciding idempotent: a state
    change handed over twice, or two processes noticing one degraded episode, make
    one message."""

    __tablename__ = "notification_messages"
    __table_args__ = (
        Index("ix_notification_messages_created_at", "created_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    event: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    service_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    monitor_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    title: Mapped[str] = mapped_column(String(250))
    body: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[int] = mapped_column(BigInteger)


class NotificationDelivery(Base):
    """A message on its way to one channel: the outbox while ``pending``, the record
    once ``sent`` or ``failed`` (given up after the last retry). The full URL is kept
    only while the delivery may still be attempted; the record keeps it masked."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("notification_messages.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    channel: Mapped[str] = mapped_column(String(120))  # masked, for the record
    status: Mapped[str] = mapped_column(String(10))  # "pending" | "sent" | "failed"
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    sent_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class NotificationEpisode(Base):
    """Something that is going on and was told once: a service down (reminders are
    sent while it lasts), a monitor degraded, a service burning its error budget.
    The row's existence is the episode; inserting it is the claim to announce it."""

    __tablename__ = "notification_episodes"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # down|degraded|budget
    subject_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    since: Mapped[int] = mapped_column(BigInteger)
    last_sent_at: Mapped[int] = mapped_column(BigInteger)
    reminders: Mapped[int] = mapped_column(Integer)
    # When the episode was first seen over (degraded: cleared only after a quiet spell).
    clear_since: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    detail: Mapped[str] = mapped_column(String(500))
