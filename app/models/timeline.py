"""The timeline: raw check results, the folded per-location segments, the log of
what still needs folding, and the immutable monthly statements.

Instants here are integer epoch seconds (UTC), as the accounting code works in them:
exact, compact, and compared without time-zone conversions on either database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime
from app.models.catalog import NEVER_REUSE_IDS, Id


class CheckResult(Base):
    """One check of one monitor from one location. Stored once per instant."""

    __tablename__ = "check_results"

    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True
    )
    location: Mapped[str] = mapped_column(String(63), primary_key=True)
    checked_at: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    # A passing check with something to act on (slow, certificate expiring soon).
    warning: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    received_at: Mapped[int] = mapped_column(BigInteger)


class ResultFloor(Base):
    """Where a (monitor, location)'s raw results were pruned (app.monitoring.retention):
    none before ``before`` count any more, and the timeline before it is final. A
    re-fold never starts earlier; ``before`` is a kept success, where a fold may start."""

    __tablename__ = "result_floors"

    monitor_id: Mapped[int] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True
    )
    location: Mapped[str] = mapped_column(String(63), primary_key=True)
    before: Mapped[int] = mapped_column(BigInteger)


class LocationSegment(Base):
    """Fresh time at one location, up or failing (the fold's output). Time that no
    segment covers had no data."""

    __tablename__ = "location_segments"
    __table_args__ = (
        Index("ix_location_segments_monitor_location_start", "monitor_id", "location", "start"),
        Index("ix_location_segments_monitor_end", "monitor_id", "end"),
        # Reports over every service select by time alone: segments are kept for good,
        # so without this a month's credits would scan the whole history. Covering, so
        # the report reads the index alone (no lookup per row).
        Index("ix_location_segments_end", "end", "start", "monitor_id", "location", "failing"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    location: Mapped[str] = mapped_column(String(63))
    start: Mapped[int] = mapped_column(BigInteger)
    end: Mapped[int] = mapped_column(BigInteger)
    failing: Mapped[bool] = mapped_column(Boolean)


class DirtyMarks(Base):
    """An append-only log of what needs folding: one row per ingested batch, listing
    each (monitor, location) it touched with its earliest result.

    One small row per batch and shard keeps ingestion at the cost of the results' own
    insert. The folder consumes rows by id, so marks appended meanwhile are never lost;
    folding is idempotent, so a mark folded twice does no harm. A row names monitors of
    its ``shard`` only (app.monitoring.marks.shard_of; 0: any monitor, rows logged
    before shards existed), so a folder that holds a shard's lock owns its rows' pairs.
    """

    __tablename__ = "dirty_marks"
    __table_args__ = (Index("ix_dirty_marks_shard_id", "shard", "id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, server_default="0")
    # app.monitoring.marks.encode: [[location, from, [id | [first, last], ...]], ...]
    marks: Mapped[list[list[Any]]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ClosedMonth(Base):
    __tablename__ = "closed_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str] = mapped_column(String(100))


class Statement(Base):
    """A service's figures for a closed month: written once, never changed."""

    __tablename__ = "statements"
    __table_args__ = (
        UniqueConstraint("service_id", "month", name="uq_statements_service_month"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="RESTRICT"), index=True
    )
    month: Mapped[str] = mapped_column(String(7), index=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    # SHA-256 of the canonical JSON of `content`, so anyone can check it is unchanged.
    digest: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StateChange(Base):
    """A confirmed change of a monitor's (quorum) or a service's state: UP, DOWN or
    NO DATA (healthchecks' ``Flip``). Written by the folder after each fold.

    Rows are reconciled, not appended: a late result that moves an outage's start
    moves its row (``at``), keeping whether it was processed, so a notification or an
    incident hangs on one row per change. A row may lie in the future (the instant a
    fresh result goes stale); consumers claim only rows whose ``at`` has passed.
    """

    __tablename__ = "state_changes"
    __table_args__ = (
        Index("ix_state_changes_subject_at", "subject", "subject_id", "at"),
        Index("ix_state_changes_unprocessed", "processed_at", "at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    subject: Mapped[str] = mapped_column(String(16))  # "monitor" | "service"
    # No foreign key: the subject is a monitor or a service (rows go with them).
    subject_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[int] = mapped_column(BigInteger)
    old: Mapped[str] = mapped_column(String(8))  # "up" | "down" | "no_data"
    new: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(500))
    processed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # A lease: a consumer that dies mid-way lets the row go again after it expires.
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class LateData(Base):
    """Results that changed a closed month's timeline after its close. Only then is a
    statement's adjustment computed (under the terms frozen in it): a catalog edit alone
    never moves a closed month."""

    __tablename__ = "late_data"

    statement_id: Mapped[int] = mapped_column(
        ForeignKey("statements.id", ondelete="CASCADE"), primary_key=True
    )
    # The earliest instant the late results changed, and when that was first seen.
    first_at: Mapped[int] = mapped_column(BigInteger)
    noted_at: Mapped[int] = mapped_column(BigInteger)
