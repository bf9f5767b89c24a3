"""Support: the calendars support targets are counted on, incidents and their events
(SLA_RULES.md section 8). The support targets themselves live in the SLA policy
(``SlaPolicy.support_targets``); the clocks are computed, never stored
(app.incidents.clocks over app.sla.business_time)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime
from app.models.catalog import NEVER_REUSE_IDS, Id, Service


class SupportCalendar(Base):
    """Weekly support hours in an IANA zone, with holidays (dates in that zone)."""

    __tablename__ = "support_calendars"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], ...}; a day not listed has none.
    hours: Mapped[dict[str, list[list[str]]]] = mapped_column(JSON)
    # ["2025-12-25", ...], sorted, dates in the calendar's zone.
    holidays: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Incident(Base):
    """An incident on one service. ``state``, ``acknowledged_at`` and ``resolved_at``
    follow from the events (kept here so lists filter on them); ``priority`` is the
    current one, the events hold its history."""

    __tablename__ = "incidents"
    __table_args__ = (
        # One incident per outage: a re-delivered state change finds the row it opened.
        # (NULLs are distinct in both databases, so incidents of people never collide.)
        UniqueConstraint("service_id", "outage_started_at", name="uq_incidents_service_outage"),
        Index("ix_incidents_service_opened", "service_id", "opened_at"),
        Index("ix_incidents_opened_at", "opened_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    priority: Mapped[str] = mapped_column(String(2))  # "P1" .. "P4", the current one
    # The priority it was opened with: the clocks replay the events from it.
    opened_priority: Mapped[str] = mapped_column(String(2))
    source: Mapped[str] = mapped_column(String(16))  # "monitor" | "operator" | "customer"
    # "open" | "acknowledged" | "paused" | "resolved"
    state: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Outage incidents only: the first DOWN instant (= opened_at) and the first UP one.
    outage_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # An operator keeps an outage incident open after the service is UP again.
    keep_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # `opened_at` was given in the past by an admin (imported history).
    imported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    opened_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    service: Mapped[Service] = relationship()
    events: Mapped[list[IncidentEvent]] = relationship(
        back_populates="incident",
        order_by="(IncidentEvent.at, IncidentEvent.id)",
        cascade="all, delete-orphan",
    )


class IncidentEvent(Base):
    """acknowledge | comment | pause | resume | priority | resolve | reopen, in order of
    ``at`` (never earlier than the incident's latest event)."""

    __tablename__ = "incident_events"
    __table_args__ = (
        Index("ix_incident_events_incident_at", "incident_id", "at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    priority: Mapped[str | None] = mapped_column(String(2), nullable=True)
    message: Mapped[str | None] = mapped_column(String(4000), nullable=True)
    # Shown on the customer's status page (comments); internal otherwise.
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Written by the system (an outage ended): never a human response.
    automatic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    imported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    actor: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    incident: Mapped[Incident] = relationship(back_populates="events")
