"""The current-month figures cache: computed once, refreshed for what the folder says
changed, and wholly again when it is old (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.monitoring.folding import fold_pending
from app.reporting.cache import CurrentMonthFigures
from app.sla.periods import month_of, month_period
from tests.conftest import Api
from tests.helpers import Catalog
from tests.test_api_sla import push


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def results(monitor_id: int, start: datetime, minutes: int, ok: bool) -> list[dict[str, Any]]:
    return [
        {
            "monitor_id": monitor_id,
            "location": "local",
            "checked_at": (start + timedelta(minutes=m)).isoformat().replace("+00:00", "Z"),
            "ok": ok,
            "interval_seconds": 60,
        }
        for m in range(minutes)
    ]


async def test_the_cache_follows_the_folder_and_forgets_deleted_services(
    api: Api, catalog: Catalog, sessions: async_sessionmaker[AsyncSession]
) -> None:
    clock = Clock()
    cache = CurrentMonthFigures(sessions, clock=clock, max_age=60)
    service_id = catalog["service"]["id"]
    monitor_id = catalog["monitor"]["id"]
    start = datetime.fromtimestamp(int(clock.now), UTC) - timedelta(minutes=30)
    # The month may have begun less than 30 minutes ago in Berlin: keep inside it.
    month_start = month_period(month_of(int(clock.now), "Europe/Berlin"), "Europe/Berlin")[0]
    start = max(start, datetime.fromtimestamp(month_start, UTC))

    assert cache.due()
    assert await cache.refresh() == 1
    first = cache.get(service_id)
    assert first is not None and first.figures.downtime_seconds == 0
    assert first.month.year == datetime.now(UTC).year
    assert not cache.due() and await cache.refresh() == 0
    # Recomputed and unchanged: the figures held stay (the new ones die young).
    cache.invalidate([service_id])
    assert await cache.refresh() == 1
    assert cache.get(service_id) is first

    await push(api, results(monitor_id, start, 5, ok=False))
    await push(api, results(monitor_id, start + timedelta(minutes=5), 1, ok=True))
    folded = await fold_pending(sessions)
    assert folded.services == {service_id}
    cache.invalidate(folded.services)
    assert cache.due()
    assert await cache.refresh() == 1
    item = cache.get(service_id)
    assert item is not None and item.figures.downtime_seconds == 5 * 60
    assert list(cache.items()) == [service_id]

    # A catalog edit the dirty log never sees: picked up by the next full refresh.
    await api.call("DELETE", f"/api/v1/monitors/{monitor_id}", expect=204)
    await api.call("DELETE", f"/api/v1/services/{service_id}", expect=204)
    assert not cache.due()
    clock.now += 61
    assert cache.due()
    assert await cache.refresh() == 0
    assert cache.get(service_id) is None and dict(cache.items()) == {}
