"""The app's runtime: built once by create_app, its background loops run by the
lifespan and all stopped when it ends."""

from __future__ import annotations

import asyncio

from app.config import Settings
from app.main import background_tasks, create_app
from app.runtime import Runtime

LOOPS = {"folder", "result-buffer"}


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
        assert [task.name for task in background_tasks(runtime)] == ["folder", "result-buffer"]
        assert running_loops() == LOOPS
    assert runtime.scheduler is None and not scheduler.scheduler.running
    assert running_loops() == set()


async def test_without_a_scheduler_only_the_folder_runs(settings: Settings) -> None:
    app = create_app(settings)
    runtime = app.state.runtime
    async with app.router.lifespan_context(app):
        assert runtime.scheduler is None and runtime.buffer is None
        assert [task.name for task in background_tasks(runtime)] == ["folder"]
        assert running_loops() == {"folder"}
    assert running_loops() == set()
