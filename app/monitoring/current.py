"""What a monitor or a service is now, and since when: its latest stored state change
at or before now (``state_changes``; a change still in the future, such as the instant
a fresh result goes stale, does not count yet). One that never changed has no data.

As SQL expressions correlated to a subject's id column, so a list reads the state
with its rows in one query and filters on it (``GET /api/v1/monitors?state=down``),
each look-up one index seek on ``(subject, subject_id, at)``.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute

from app.models import StateChange

StateName = Literal["up", "down", "no_data"]
Column = ColumnElement[Any] | InstrumentedAttribute[int]  # the subject's id column
NEVER = "no_data"  # the state of a subject without any change yet


def _latest(subject: str, subject_id: Column, now: int) -> Select[Any]:
    return (
        select(StateChange)
        .where(
            StateChange.subject == subject,
            StateChange.subject_id == subject_id,
            StateChange.at <= now,
        )
        .order_by(StateChange.at.desc(), StateChange.id.desc())
        .limit(1)
    )


def state_now(subject: str, subject_id: Column, now: int) -> ColumnElement[str]:
    """The subject's state at ``now`` (``no_data`` if it never changed)."""
    latest = _latest(subject, subject_id, now).with_only_columns(StateChange.new)
    return func.coalesce(latest.scalar_subquery(), NEVER)


def state_since(subject: str, subject_id: Column, now: int) -> ColumnElement[Any]:
    """When the subject's state at ``now`` began (epoch seconds; NULL: never changed)."""
    return _latest(subject, subject_id, now).with_only_columns(StateChange.at).scalar_subquery()
