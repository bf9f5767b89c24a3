"""Our own database outage is never the customer's downtime (SLA_RULES 2, 3): pings
that come meanwhile are buffered, silence we could not hear is NO DATA, and clients get
a JSON 503 with Retry-After, logged once (both databases)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.availability import DatabaseHealth
from app.db import make_engine, make_sessionmaker
from app.models import CheckResult
from app.monitoring.buffer import ResultBuffer
from app.monitoring.checks import MonitorSpec, ResultIn
from app.monitoring.heartbeats import overdue_failures
from app.monitoring.ingest import store_results
from app.monitoring.server import ServerScheduler
from app.sla.periods import to_epoch
from probes.registry import ProbeContext
from tests.conftest import Api

SPEC = MonitorSpec(
    id=1,
    kind="heartbeat",
    target="nightly",
    options={"grace_seconds": 60},
    interval_seconds=600,
    timeout_seconds=10,
    locations=("local",),
    created_at=0,
)


def test_no_failure_is_dated_before_we_could_listen_again() -> None:
    # Pinged at 1,000: due at 1,660. Our outage ended at 5,000: the cron gets a full
    # interval plus grace to ping again, so the first failure is at 5,660.
    assert overdue_failures(SPEC, (1_000, True), 5_500, listening_since=5_000) == []
    assert overdue_failures(SPEC, (1_000, True), 6_300, listening_since=5_000) == [5_660, 6_260]
    # Listening all along: failures from the deadline, as before.
    assert overdue_failures(SPEC, (1_000, True), 2_300, listening_since=0) == [1_660, 2_260]


def test_the_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    health = DatabaseHealth(clock=lambda: now[0])
    assert health.listening_since == 100
    caplog.set_level(logging.WARNING, logger="uptally.database")
    for _ in range(50):
        health.failed(ConnectionRefusedError("refused"))
    now[0] = 160.0
    health.succeeded()
    health.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "database unreachable: ConnectionRefusedError: refused",
        "database reachable again after 60 s",
    ]
    assert health.listening_since == 160 and not health.down


def broken_url(db_url: str) -> str:
    """A database of the same kind that cannot be reached."""
    if db_url.startswith("sqlite"):
        return "sqlite+aiosqlite:////nonexistent/uptally/down.db"
    return "postgresql+asyncpg://postgres@127.0.0.1:1/down"


async def heartbeat_monitor(api: Api, catalog: dict[str, Any]) -> dict[str, Any]:
    return await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "nightly",
            "kind": "heartbeat",
            "target": "nightly",
            "interval_seconds": 600,
        },
    )


async def test_pings_during_an_outage_are_kept_and_requests_get_a_json_503(
    live: tuple[Api, Any], db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.helpers import make_service

    api, application = live
    runtime = application.state.runtime
    catalog = await make_service(api)
    monitor = await heartbeat_monitor(api, catalog)
    path = "/heartbeat/" + monitor["heartbeat_url"].rsplit("/", 1)[1]
    await api.call("POST", path, token=None, expect=200)  # seen before the outage

    working, buffer = runtime.sessions, runtime.buffer
    written = buffer.written
    broken = make_engine(broken_url(db_url))
    caplog.set_level(logging.WARNING, logger="uptally.database")
    try:
        runtime.sessions = buffer.sessions = make_sessionmaker(broken)
        during = to_epoch(datetime.now(UTC))
        buffered = await api.call("POST", path, token=None, expect=202)
        assert buffered.json()["monitor_id"] == monitor["id"]
        assert [r.checked_at for r in buffer.pending] in ([during], [during + 1])
        unknown = await api.call("POST", "/heartbeat/" + "x" * 32, token=None, expect=503)
        assert unknown.headers["retry-after"] == "5"
        assert unknown.json() == {"detail": "the database is unavailable; try again shortly"}
        listing = await api.call("GET", "/api/v1/customers", expect=503)
        assert listing.headers["content-type"].startswith("application/json")
        ready = await api.call("GET", "/readyz", token=None, expect=503)
        assert ready.json()["status"] == "unavailable"
    finally:
        runtime.sessions = buffer.sessions = working
        await broken.dispose()
    assert [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()] == [
        caplog.records[0].getMessage()
    ]

    await buffer.flush()  # the database is back: the ping is written (if the loop has not)
    assert buffer.written == written + 1 and not buffer.pending
    assert not runtime.database.down
    assert runtime.database.listening_since >= during
    async with runtime.sessions() as session:
        stored = list(
            await session.scalars(
                select(CheckResult.checked_at).where(CheckResult.monitor_id == monitor["id"])
            )
        )
    # (The first ping may share its second with the buffered one: stored once.)
    assert max(stored) in (during, during + 1)


async def test_the_watchdog_does_not_blame_silence_during_our_outage(
    api: Api, app: Any, catalog: dict[str, Any]
) -> None:
    monitor = await heartbeat_monitor(api, catalog)
    runtime = app.state.runtime
    now = to_epoch(datetime.now(UTC))
    pinged = now - 3_000  # overdue since now - 2,340 ...
    async with runtime.sessions() as session, session.begin():
        row = ResultIn(
            monitor_id=monitor["id"],
            location="local",
            checked_at=pinged,
            ok=True,
            interval_seconds=330,
        )
        await store_results(session, [row], now, {})
    clock = [float(now - 3_100)]
    health = DatabaseHealth(clock=lambda: clock[0])
    health.failed(ConnectionRefusedError("refused"))  # ... but our database was down
    clock[0] = float(now - 300)
    health.succeeded()  # until 5 minutes ago
    probes = ProbeContext()
    buffer = ResultBuffer(runtime.sessions)
    scheduler = ServerScheduler(
        runtime.sessions, "local", probes, buffer, database=health, clock=lambda: float(now)
    )
    try:
        await scheduler.sync(monitor["id"])
        await scheduler.check_now(monitor["id"])
        assert list(buffer.pending) == []  # 300 s < interval + grace: not yet
        later = now + 400  # past the 660 s after we came back
        scheduler.clock = lambda: float(later)
        await scheduler.check_now(monitor["id"])
    finally:
        scheduler.shutdown()
        await probes.aclose()
    async with runtime.sessions() as session:
        failures = list(
            await session.scalars(select(CheckResult.checked_at).where(CheckResult.ok.is_(False)))
        )
    assert failures == [now - 300 + 660]
