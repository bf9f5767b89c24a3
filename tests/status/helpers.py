"""Status pages at a fixed instant: 2025-11-30 12:00 UTC (13:00 in Berlin), so the 90
days run from 2025-09-02 to 2025-11-30 and hold Berlin's 25-hour day (2025-10-26)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.models import DirtyMarks
from app.monitoring.folding import fold_pending
from app.schemas.status import StatusPage
from tests.conftest import Api

NOW = datetime(2025, 11, 30, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def checks(
    monitor_id: int,
    start: datetime,
    end: datetime,
    ok: bool = True,
    every: timedelta = timedelta(minutes=30),
    **extra: Any,
) -> list[dict[str, Any]]:
    """Results every ``every`` from ``start`` (inclusive) to ``end`` (exclusive)."""
    rows, moment = [], start
    while moment < end:
        rows.append(
            {
                "monitor_id": monitor_id,
                "location": "local",
                "checked_at": z(moment),
                "ok": ok,
                "interval_seconds": int(every.total_seconds()),
                **extra,
            }
        )
        moment += every
    return rows


def around_outage(
    monitor_id: int,
    down: tuple[datetime, datetime],
    since: timedelta = timedelta(days=95),
    every: timedelta = timedelta(minutes=30),
) -> list[dict[str, Any]]:
    """Passing results from ``NOW - since`` to NOW, failing ones over ``down``."""
    return (
        checks(monitor_id, NOW - since, down[0], every=every)
        + checks(monitor_id, *down, ok=False, every=every)
        + checks(monitor_id, down[1], NOW, every=every)
    )


async def push(api: Api, app: Any, rows: Iterable[dict[str, Any]]) -> None:
    """Store the rows and fold them (the background folder would, within seconds)."""
    rows = list(rows)
    for i in range(0, len(rows), 5000):
        await api.call("POST", "/api/v1/results", json={"results": rows[i : i + 5000]}, expect=202)
    sessions = app.state.runtime.sessions
    await fold_pending(sessions)
    # The app's own folder may hold some of the log (PostgreSQL skips rows another
    # transaction has locked): wait until it is all folded.
    for _ in range(500):
        async with sessions() as session:
            if not await session.scalar(select(func.count()).select_from(DirtyMarks)):
                return
        await asyncio.sleep(0.02)
        await fold_pending(sessions)
    raise AssertionError("results still waiting to be folded after 10 s")


async def status_json(api: Api, slug: str = "acme", **kwargs: Any) -> dict[str, Any]:
    response = await api.call("GET", f"/api/v1/status/{slug}", token=None, expect=200, **kwargs)
    data: dict[str, Any] = response.json()
    # The documented shape (OpenAPI) is the served one.
    assert StatusPage.model_validate(data).model_dump() == data
    return data


def service_of(document: dict[str, Any], slug: str = "web") -> dict[str, Any]:
    [service] = [s for s in document["services"] if s["slug"] == slug]
    return service


def day_of(service: dict[str, Any], date: str) -> dict[str, Any]:
    [day] = [d for d in service["days"] if d["date"] == date]
    return day
