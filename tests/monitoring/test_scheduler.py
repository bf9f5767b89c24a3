"""The in-process scheduler inside the real app: jobs follow the API, checks write
results through the same ingestion as the results endpoint."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.main import create_app
from app.models import CheckResult
from tests.conftest import Api, asgi_api
from tests.monitoring.conftest import make_service


async def _results(app: Any, monitor_id: int) -> list[CheckResult]:
    async with app.state.sessions() as session:
        return list(
            await session.scalars(select(CheckResult).where(CheckResult.monitor_id == monitor_id))
        )


async def test_jobs_follow_monitor_changes_at_once(live: tuple[Api, Any], http_url: str) -> None:
    api, app = live
    scheduler = app.state.scheduler
    service_id = await make_service(api)
    monitor = await api.create(
        "/api/v1/monitors",
        {"service_id": service_id, "name": "home", "kind": "http", "target": f"{http_url}/ok"},
    )
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
    service_id = await make_service(api)
    up = await api.create(
        "/api/v1/monitors",
        {
            "service_id": service_id,
            "name": "up",
            "kind": "http",
            "target": f"{http_url}/ok",
            "keyword": "Welcome",
        },
    )
    down = await api.create(
        "/api/v1/monitors",
        {
            "service_id": service_id,
            "name": "down",
            "kind": "http",
            "target": f"{http_url}/status/503",
        },
    )
    for monitor in (up, down):
        await app.state.scheduler.check_now(monitor["id"])
    await app.state.scheduler.buffer.flush()
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
        service_id = await make_service(api)
        monitor = await api.create(
            "/api/v1/monitors",
            {
                "service_id": service_id,
                "name": "inside",
                "kind": "http",
                "target": f"{http_url}/ok",
            },
        )
        await application.state.scheduler.check_now(monitor["id"])
        await application.state.scheduler.buffer.flush()
        [refused] = await _results(application, monitor["id"])
    assert not refused.ok
    assert "loopback" in (refused.error or "")


async def test_a_run_that_starts_too_late_is_shed_not_run(http_url: str) -> None:
    import time

    from app.monitoring.ingest import ResultIn
    from app.monitoring.scheduler import CheckScheduler, MonitorSpec, max_lag
    from probes.guard import AddressPolicy
    from probes.registry import ProbeContext

    results: list[ResultIn] = []
    lags: list[float] = []
    probes = ProbeContext(policy=AddressPolicy(allow_private=True))
    scheduler = CheckScheduler("local", probes, results.append, observe_lag=lags.append)
    spec = MonitorSpec(7, "http", f"{http_url}/ok", {}, 10, 5, ("local",), 0)
    assert max_lag(spec) == 5
    scheduler.specs[spec.id] = spec
    try:
        scheduler._due[spec.id] = time.time() - 6  # due 6 s ago: too late for 10 s
        await scheduler.run_job(spec.id)
        assert results == [] and scheduler.stats == {"checks": 0, "shed": 1}
        scheduler._due[spec.id] = time.time() - 1  # 1 s late: still worth running
        await scheduler.run_job(spec.id)
        assert len(results) == 1 and results[0].ok
        assert scheduler.stats == {"checks": 1, "shed": 1}
        assert 5.9 < lags[0] < 7 and 0.9 < lags[1] < 2
    finally:
        await probes.aclose()


async def test_a_passing_checks_warning_is_stored_and_shown(
    live: tuple[Api, Any], http_url: str
) -> None:
    api, app = live
    service_id = await make_service(api)
    monitor = await api.create(
        "/api/v1/monitors",
        {
            "service_id": service_id,
            "name": "slowish",
            "kind": "http",
            "target": f"{http_url}/slow",
            "timeout_seconds": 5,
            "degraded_latency_ms": 500,
        },
    )
    await app.state.scheduler.check_now(monitor["id"])
    await app.state.scheduler.buffer.flush()
    shown = (await api.call("GET", f"/api/v1/monitors/{monitor['id']}/results", expect=200)).json()
    assert len(shown) == 1
    assert shown[0]["ok"] is True
    assert shown[0]["warning"].startswith("slow: ")
    assert shown[0]["checked_at"].endswith("Z")
