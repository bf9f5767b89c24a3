"""The in-process result buffer, writing through ingestion into a real database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.models import CheckResult
from app.monitoring.buffer import ResultBuffer
from app.monitoring.checks import ResultIn
from app.sla.periods import to_epoch


async def test_two_checks_of_a_monitor_in_one_second_are_stored_as_one(
    app: Any, catalog: dict[str, Any]
) -> None:
    """A check run by hand right after a scheduled one can land in the same second: the
    batch holds a duplicate, which is kept as the fold would (the failure), and the
    buffer does not get stuck retrying it."""
    sessions = app.state.runtime.sessions
    monitor_id = catalog["monitor"]["id"]
    at = to_epoch(datetime.now(UTC))
    buffer = ResultBuffer(sessions)
    for ok in (True, False):
        buffer.add(
            ResultIn(
                monitor_id=monitor_id,
                location="local",
                checked_at=at,
                ok=ok,
                interval_seconds=60,
                error=None if ok else "refused",
            )
        )
    await buffer.flush()
    assert not buffer.pending
    async with sessions() as session:
        rows = list(
            await session.scalars(select(CheckResult).where(CheckResult.monitor_id == monitor_id))
        )
    assert [(r.checked_at, r.ok, r.error) for r in rows] == [(at, False, "refused")]
