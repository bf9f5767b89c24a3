"""The check scheduler alone (its clock, first-run spread and shedding), and inside the
real app: jobs follow the API, checks write results through the same ingestion as the
results endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings
from app.main import create_app
from app.models import CheckResult
from app.monitoring.checks import MonitorSpec, ResultIn
from app.monitoring.scheduler import CheckScheduler, first_run_delay, max_lag
from probes.guard import AddressPolicy
from probes.registry import ProbeContext
from tests.conftest import Api, asgi_api
from tests.helpers import make_monitor, make_service


async def _results(app: Any, monitor_id: int) -> list[CheckResult]:
    async with app.state.runtime.sessions() as session:
        return list(
            await session.scalars(select(CheckResult).where(CheckResult.monitor_id == monitor_id))
        )


async def test_jobs_follow_monitor_changes_at_once(live: tuple[Api, Any], http_url: str) -> None:
    api, app = live
    scheduler = app.state.runtime.scheduler
    service_id = (await make_service(api))["service"]["id"]
    monitor = await make_monitor(api, service_id, f"{http_url}/ok")
    job = scheduler.scheduler.get_job(f"monitor-{monitor['id']}")
    assert job is not None
    assert job.max_instances == 1 and job.coalesce
    assert job.misfire_grace_time == 60

    await api.call(
        "PATCH", f"/api/v1/monitors/{monitor['id']}", json={"interval_seconds": 30}, expect=200
    )
    assert scheduler.specs[monitor["id"]].interval_seconds == 30
    await api.call(
        "PATCH", f"/api/v1/monitors/{monitor['id']}", json={"enabled": False}, expect=200
    )
    assert scheduler.scheduler.get_job(f"monitor-{monitor['id']}") is None
    await api.call("PATCH", f"/api/v1/monitors/{monitor['id']}", json={"enabled": True}, expect=200)
    assert scheduler.scheduler.get_job(f"monitor-{monitor['id']}") is not None
    # A monitor probed only elsewhere is the remote agents' job, not ours.
    await api.call(
        "PATCH", f"/api/v1/monitors/{monitor['id']}", json={"locations": ["fra"]}, expect=200
    )
    assert scheduler.scheduler.get_job(f"monitor-{monitor['id']}") is None
    await api.call(
        "PATCH", f"/api/v1/monitors/{monitor['id']}", json={"locations": ["local"]}, expect=200
    )
    await api.call("DELETE", f"/api/v1/monitors/{monitor['id']}", expect=204)
    assert scheduler.scheduler.get_job(f"monitor-{monitor['id']}") is None


async def test_checks_are_stored_as_results(live: tuple[Api, Any], http_url: str) -> None:
    api, app = live
    service_id = (await make_service(api))["service"]["id"]
    up = await make_monitor(api, service_id, f"{http_url}/ok", name="up", keyword="Welcome")
    down = await make_monitor(api, service_id, f"{http_url}/status/503", name="down")
    for monitor in (up, down):
        await app.state.runtime.scheduler.check_now(monitor["id"])
    await app.state.runtime.scheduler.buffer.flush()
    [ok] = await _results(app, up["id"])
    assert ok.ok and ok.status_code == 200 and ok.latency_ms is not None
    assert ok.interval_seconds == 60 and ok.location == "local"
    [failed] = await _results(app, down["id"])
    assert not failed.ok and failed.status_code == 503
    assert "status 503" in (failed.error or "")


async def test_private_targets_are_refused_unless_allowed(
    settings: Settings, http_url: str
) -> None:
    guarded = settings.model_copy(
        update={"scheduler_enabled": True, "allow_private_targets": False}
    )
    application = create_app(guarded)
    async with application.router.lifespan_context(application), asgi_api(application) as api:
        service_id = (await make_service(api))["service"]["id"]
        monitor = await make_monitor(api, service_id, f"{http_url}/ok")
        await application.state.runtime.scheduler.check_now(monitor["id"])
        await application.state.runtime.scheduler.buffer.flush()
        [refused] = await _results(application, monitor["id"])
    assert not refused.ok
    assert "loopback" in (refused.error or "")


async def test_a_run_that_starts_too_late_is_shed_not_run(http_url: str) -> None:
    """Lag and ``checked_at`` come from the injected clock (here 2001, far from the real
    time: a scheduler reading the real clock would shed both runs)."""
    now = 1_000_000_000.0
    results: list[ResultIn] = []
    lags: list[float] = []
    probes = ProbeContext(policy=AddressPolicy(allow_private=True))
    scheduler = CheckScheduler(
        "local", probes, results.append, observe_lag=lags.append, clock=lambda: now
    )
    spec = MonitorSpec(7, "http", f"{http_url}/ok", {}, 10, 5, ("local",), 0)
    assert max_lag(spec) == 5
    scheduler.specs[spec.id] = spec
    try:
        scheduler._due[spec.id] = now - 6  # due 6 s ago: too late for 10 s
        await scheduler.run_job(spec.id)
        assert results == [] and scheduler.stats == {"checks": 0, "shed": 1}
        scheduler._due[spec.id] = now - 1  # 1 s late: still worth running
        await scheduler.run_job(spec.id)
        assert len(results) == 1 and results[0].ok
        assert scheduler.stats == {"checks": 1, "shed": 1}
        assert lags == [6.0, 1.0]
        assert results[0].checked_at == 1_000_000_000
    finally:
        await probes.aclose()


def test_first_runs_are_spread_over_the_whole_interval() -> None:
    delays = sorted(first_run_delay(monitor_id, 60) for monitor_id in range(1, 1001))
    assert delays[0] >= 0 and delays[-1] < 60
    # Every part of the minute gets its share (a 30 s cap would leave the second half
    # empty): no gap between first runs longer than 0.2 s, half of them after 30 s.
    gaps = [b - a for a, b in zip([0.0, *delays], [*delays, 60.0], strict=True)]
    assert max(gaps) < 0.2
    assert 490 <= sum(delay >= 30 for delay in delays) <= 510


def test_monitors_created_together_start_far_apart() -> None:
    for monitor_id in range(1, 500):
        apart = abs(first_run_delay(monitor_id + 1, 60) - first_run_delay(monitor_id, 60))
        assert apart > 0.38 * 60


def test_every_nth_monitor_is_spread_too() -> None:
    """An agent running shard 2/3 probes ids 2, 5, 8 ...: still even."""
    delays = sorted(first_run_delay(monitor_id, 60) for monitor_id in range(2, 3000, 3))
    gaps = [b - a for a, b in zip([0.0, *delays], [*delays, 60.0], strict=True)]
    assert max(gaps) < 0.3


@pytest.mark.parametrize(
    ("monitor_id", "interval", "spread", "within"),
    [
        (7, 60, None, 60),
        (7, 60, 10, 10),  # a cap shorter than the interval
        (7, 60, 600, 60),  # never beyond the interval
        (2**63 - 1, 300, None, 300),  # the largest id
    ],
)
def test_a_first_run_falls_within_the_interval_or_the_cap(
    monitor_id: int, interval: int, spread: float | None, within: float
) -> None:
    assert 0 <= first_run_delay(monitor_id, interval, spread) < within


def test_no_spread_runs_at_once() -> None:
    assert {first_run_delay(monitor_id, 60, 0) for monitor_id in range(1, 100)} == {0}


async def test_first_runs_are_dated_by_the_injected_clock() -> None:
    now = 1_000_000_000.0
    probes = ProbeContext()
    scheduler = CheckScheduler("local", probes, lambda row: None, clock=lambda: now)
    try:
        scheduler.schedule(MonitorSpec(7, "http", "http://a.example/", {}, 300, 5, ("local",), 0))
        scheduler.schedule(MonitorSpec(8, "heartbeat", "", {}, 3600, 5, ("local",), 0))
        job = scheduler.scheduler.get_job("monitor-7")
        assert job.trigger.interval == timedelta(seconds=300)
        assert job.trigger.start_date == datetime.fromtimestamp(now + first_run_delay(7, 300), UTC)
        # A heartbeat's watchdog looks every minute, its first look within a minute.
        watchdog = scheduler.scheduler.get_job("monitor-8")
        assert watchdog.trigger.interval == timedelta(seconds=60)
        assert watchdog.trigger.start_date == datetime.fromtimestamp(
            now + first_run_delay(8, 60), UTC
        )
    finally:
        await probes.aclose()


async def test_a_passing_checks_warning_is_stored_and_shown(
    live: tuple[Api, Any], http_url: str
) -> None:
    api, app = live
    service_id = (await make_service(api))["service"]["id"]
    monitor = await make_monitor(
        api, service_id, f"{http_url}/slow/0.15", timeout_seconds=5, degraded_latency_ms=100
    )
    await app.state.runtime.scheduler.check_now(monitor["id"])
    await app.state.runtime.scheduler.buffer.flush()
    shown = await api.items(f"/api/v1/monitors/{monitor['id']}/results")
    assert len(shown) == 1
    assert shown[0]["ok"] is True
    assert shown[0]["latency_ms"] >= 150
    assert shown[0]["warning"] == f"slow: {shown[0]['latency_ms']} ms > 100 ms"
    assert shown[0]["checked_at"].endswith("Z")
