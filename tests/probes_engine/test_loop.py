"""The event loop of `uptally serve` and `uptally agent`: uvloop unless
UPTALLY_UVLOOP=false, and uvicorn told the same."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.config import Settings
from app.loop import in_slices, in_turns, install, loop_name
from tests.helpers import another_task


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_the_default_and_the_setting_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().uvloop is True
    monkeypatch.setenv("UPTALLY_UVLOOP", "false")
    assert Settings().uvloop is False
    assert loop_name(True) == "uvloop"
    assert loop_name(False) == "asyncio"


def test_the_agent_start_up_makes_asyncio_run_use_the_chosen_loop() -> None:
    try:
        assert install(False) == "asyncio"
        assert asyncio.run(_loop_module()).startswith("asyncio")
        assert install(True) == "uvloop"
        assert asyncio.run(_loop_module()).startswith("uvloop")
    finally:
        asyncio.set_event_loop_policy(None)


@pytest.mark.parametrize(("setting", "loop"), [(None, "uvloop"), ("false", "asyncio")])
def test_serve_runs_uvicorn_on_the_chosen_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, loop: str
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("UPTALLY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/loop.db")
    monkeypatch.setenv("UPTALLY_ADMIN_TOKEN", "x" * 32)
    if setting is not None:
        monkeypatch.setenv("UPTALLY_UVLOOP", setting)
    assert main(["serve"]) == 0
    assert seen["loop"] == loop


async def test_in_turns_hands_the_loop_back_after_every_few_items() -> None:
    async with another_task() as seen:
        async for item in in_turns(range(7), 3):
            seen.append(item)
    assert seen == [0, 1, 2, "other", 3, 4, 5, "other", 6]


async def test_in_slices_gives_lists_and_hands_the_loop_back_between_them() -> None:
    async with another_task() as seen:
        async for part in in_slices(iter(range(8)), 3):
            seen.append(part)
    assert seen == [[0, 1, 2], "other", [3, 4, 5], "other", [6, 7]]
    assert [part async for part in in_slices([], 3)] == []
