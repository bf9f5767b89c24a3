"""Heartbeats: pings record success; silence past interval plus grace is DOWN."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.models import CheckResult
from app.monitoring.checks import MonitorSpec, ResultIn
from app.monitoring.heartbeats import heartbeat_interval, overdue_failures
from app.monitoring.ingest import store_results
from app.monitoring.server import ServerScheduler
from app.sla.periods import to_epoch
from app.sla.timeline import Observation, fold_location
from tests.conftest import Api

HOUR = 3600


def spec(interval: int = HOUR, grace: int = 600, created_at: int = 0) -> MonitorSpec:
    return MonitorSpec(
        1, "heartbeat", "", {"grace_seconds": grace}, interval, 10, ("local",), created_at
    )


@pytest.mark.parametrize(
    ("last", "now", "expected"),
    [
        # Pinged at 0: due at 0 + 3,600 + 600 = 4,200.
        ((0, True), 4_199, []),
        ((0, True), 4_200, [4_200]),
        # Still silent: one more failure every interval.
        ((0, True), 11_500, [4_200, 7_800, 11_400]),
        # The last result was already a failure at 4,200: the next is due at 7,800.
        ((4_200, False), 7_799, []),
        ((4_200, False), 7_800, [7_800]),
        # Never pinged: due interval + grace after creation (created at 100).
        (None, 4_300, [4_300]),
    ],
)
def test_overdue_failures(last: tuple[int, bool] | None, now: int, expected: list[int]) -> None:
    assert overdue_failures(spec(created_at=100), last, now) == expected


def test_a_ping_holds_exactly_until_its_deadline() -> None:
    # interval 3,600 + grace 600: stored interval 2,100, fresh for 2 x 2,100 = 4,200 s.
    heartbeat = spec()
    assert heartbeat_interval(heartbeat) == 2_100
    ping = Observation(0, True, heartbeat_interval(heartbeat))
    failure = Observation(4_200, False, HOUR)
    segments = fold_location([ping, failure])
    assert [(s.start, s.end, s.failing) for s in segments] == [
        (0, 4_200, False),
        (4_200, 4_200 + 2 * HOUR, True),
    ]


async def _heartbeat_monitor(api: Api, catalog: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "backup",
            "kind": "heartbeat",
            "interval_seconds": HOUR,
            "grace_seconds": 600,
            **extra,
        },
    )


async def test_a_ping_records_an_ok_result(api: Api, app: Any, catalog: dict[str, Any]) -> None:
    monitor = await _heartbeat_monitor(api, catalog)
    path = monitor["heartbeat_url"].removeprefix("http://uptally.test")
    response = await api.call("POST", path, token=None, expect=200)
    assert response.json()["ok"] is True
    await api.call("GET", path, token=None, expect=200)  # curl in a crontab sends GET
    async with app.state.runtime.sessions() as session:
        rows = list(await session.scalars(select(CheckResult)))
    assert rows and all(r.ok and r.interval_seconds == 2_100 for r in rows)
    assert {r.location for r in rows} == {"local"}


async def test_unknown_or_paused_heartbeats_are_refused(api: Api, catalog: dict[str, Any]) -> None:
    await api.call("POST", "/heartbeat/not-a-token", token=None, expect=404)
    monitor = await _heartbeat_monitor(api, catalog)
    await api.call(
        "PATCH", f"/api/v1/monitors/{monitor['id']}", json={"enabled": False}, expect=200
    )
    path = monitor["heartbeat_url"].removeprefix("http://uptally.test")
    await api.call("POST", path, token=None, expect=409)


async def test_silence_past_interval_plus_grace_is_downtime(
    api: Api, app: Any, catalog: dict[str, Any]
) -> None:
    """A ping 2 h ago, then silence: DOWN from 70 min after the ping until now."""
    from app.availability import DatabaseHealth
    from app.monitoring.buffer import ResultBuffer
    from probes.registry import ProbeContext

    monitor = await _heartbeat_monitor(api, catalog)
    now = to_epoch(datetime.now(UTC))
    pinged = now - 2 * HOUR
    async with app.state.runtime.sessions() as session, session.begin():
        await store_results(
            session,
            [
                ResultIn(
                    monitor_id=monitor["id"],
                    location="local",
                    checked_at=pinged,
                    ok=True,
                    interval_seconds=2_100,
                )
            ],
            now,
            {monitor["id"]: 2_100},
        )

    probes = ProbeContext()
    scheduler = ServerScheduler(
        app.state.runtime.sessions,
        "local",
        probes,
        ResultBuffer(app.state.runtime.sessions),
        # This server has been listening since before the ping (no outage of ours).
        database=DatabaseHealth(clock=lambda: float(pinged - 10)),
        clock=lambda: float(now),
    )
    try:
        await scheduler.sync(monitor["id"])
        await scheduler.check_now(monitor["id"])
    finally:
        scheduler.shutdown()
        await probes.aclose()
    async with app.state.runtime.sessions() as session:
        failure = await session.scalar(select(CheckResult).where(CheckResult.ok.is_(False)))
    assert failure is not None
    assert failure.checked_at == pinged + HOUR + 600
    assert "no heartbeat" in (failure.error or "")

    month = _customer_month(catalog)
    figures = (
        await api.call(
            "GET", f"/api/v1/services/{catalog['service']['id']}/sla?month={month}", expect=200
        )
    ).json()
    # DOWN from the failure until now (the part in this month, if it began before it).
    period_start = to_epoch(datetime.fromisoformat(figures["period_start"]))
    asked_at = to_epoch(datetime.fromisoformat(figures["as_of"]))
    expected = asked_at - max(failure.checked_at, period_start)
    assert expected - 2 <= figures["downtime_seconds"] <= expected + 2


def _customer_month(catalog: dict[str, Any]) -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(catalog["customer"]["timezone"])).strftime("%Y-%m")
