"""Any window goes through the month's code path: a customer's calendar days add up
to its month (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.monitoring.folding import fold_pending
from app.reporting.compute import compute_months, compute_windows
from app.reporting.load import load_services
from app.sla.periods import Month, to_epoch
from app.sla.uptime import truncate
from tests.conftest import Api
from tests.helpers import Catalog
from tests.test_api_sla import june_with_44_minutes_down, push


def berlin_days(year: int, month: int) -> list[tuple[int, int]]:
    zone = ZoneInfo("Europe/Berlin")
    day = datetime(year, month, 1, tzinfo=zone)
    days = []
    while day.month == month:
        after = (day + timedelta(days=1)).replace(tzinfo=zone)
        days.append((to_epoch(day), to_epoch(after)))
        day = after
    return days


async def test_the_days_of_a_month_add_up_to_the_month(
    api: Api, catalog: Catalog, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    await fold_pending(sessions)
    now = datetime(2025, 8, 1, tzinfo=UTC)
    async with sessions() as session:
        [service] = await load_services(session)
        days = await compute_windows(session, service, berlin_days(2025, 6), now)
        [month] = await compute_months(session, [service], Month(2025, 6), now)

    assert len(days) == 30
    assert sum(d.downtime_seconds for d in days) == month.figures.downtime_seconds == 2640
    # Down 12:00-12:44 UTC on June 10 is 14:00-14:44 in Berlin: the 10th's bar.
    down_days = [i + 1 for i, d in enumerate(days) if d.downtime_seconds]
    assert down_days == [10]
    # 86,400 - 2,640 = 83,760 s up of 86,400: 96.9444...%
    assert days[9].uptime is not None and truncate(days[9].uptime) == "96.9444"
    assert all(d.uptime == 100 for i, d in enumerate(days) if i != 9)
    assert sum(d.period[1] - d.period[0] for d in days) == 43_200 * 60
