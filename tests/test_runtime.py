"""The app's runtime: built once by create_app, its background loops run by the
lifespan and all stopped when it ends."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import Settings
from app.main import background_tasks, create_app
from app.runtime import Runtime
from tests.conftest import asgi_api
from tests.helpers import make_service, until

ALWAYS = [
    "folder",
    "state-changes",
    "current-figures",
    "metrics-upkeep",
    "metrics-series",
    "loop-lag",
    "key-usage",
    "result-retention",
    "notifier",
    "notification-deliveries",
]
LOOPS = {*ALWAYS, "result-buffer"}


def running_loops() -> set[str]:
    return {task.get_name() for task in asyncio.all_tasks() if not task.done()} & LOOPS


async def test_the_lifespan_runs_the_scheduler_and_stops_every_loop(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"scheduler_enabled": True}))
    runtime = app.state.runtime
    assert isinstance(runtime, Runtime)
    assert runtime.settings.scheduler_enabled and runtime.scheduler is None
    async with app.router.lifespan_context(app):
        scheduler = runtime.scheduler
        assert scheduler is not None and scheduler.scheduler.running
        assert runtime.buffer is scheduler.buffer
        assert [task.name for task in background_tasks(runtime)] == [*ALWAYS, "result-buffer"]
        assert running_loops() == LOOPS
    assert runtime.scheduler is None and not scheduler.scheduler.running
    assert running_loops() == set()


async def test_without_a_scheduler_the_other_loops_run(settings: Settings) -> None:
    app = create_app(settings)
    runtime = app.state.runtime
    async with app.router.lifespan_context(app):
        assert runtime.scheduler is None and runtime.buffer is None
        assert [task.name for task in background_tasks(runtime)] == ALWAYS
        assert running_loops() == set(ALWAYS)
    assert running_loops() == set()


async def test_the_running_app_records_dispatches_and_caches_a_change(
    settings: Settings, caplog: Any
) -> None:
    """Through the background loops alone: results in, a logged state change and the
    month's figures in the cache out."""
    app = create_app(
        settings.model_copy(
            update={"fold_interval_seconds": 0.05, "dispatch_interval_seconds": 0.05}
        )
    )
    runtime = app.state.runtime
    caplog.set_level(logging.INFO, logger="app.monitoring.dispatch")
    async with app.router.lifespan_context(app), asgi_api(app) as api:
        catalog = await make_service(api)
        monitor = await api.create(
            "/api/v1/monitors",
            {
                "service_id": catalog["service"]["id"],
                "name": "db",
                "kind": "tcp",
                "target": "db.acme.example:5432",
            },
        )
        now = datetime.now(UTC).replace(microsecond=0)
        rows = [
            {
                "monitor_id": monitor["id"],
                "location": "local",
                "checked_at": (now - timedelta(minutes=m)).isoformat(),
                "ok": m != 3,
                "interval_seconds": 60,
            }
            for m in (4, 3, 2)
        ]
        await api.call("POST", "/api/v1/results", json={"results": rows}, expect=202)

        def logged() -> list[str]:
            return [r.getMessage() for r in caplog.records if "up -> down" in r.getMessage()]

        lines = await until(lambda: len(logged()) == 2 and logged(), "two down changes logged")
        assert any(
            line.startswith(f"monitor {monitor['id']} 'db' (acme/") and ": up -> down at" in line
            for line in lines
        )
        service_id = catalog["service"]["id"]
        item = await until(lambda: runtime.figures.get(service_id), "the service's figures")
        assert item.service.id == service_id
