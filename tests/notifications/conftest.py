"""An app whose background loops run fast (fold, dispatch, notify every 0.1 s), and a
local webhook receiver for Apprise to deliver to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from app.config import Settings
from app.main import create_app
from app.sla.periods import utc_text
from tests.conftest import Api, asgi_api
from tests.helpers import make_monitor, make_service
from tests.notifications.receiver import Receiver, receiving

FAST = {
    "fold_interval_seconds": 0.1,
    "dispatch_interval_seconds": 0.1,
    "notify_interval_seconds": 0.1,
    "notify_retry_seconds": 1.0,
    "notify_reminder_seconds": 0,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(update=FAST)


@asynccontextmanager
async def running(settings: Settings, **changes: Any) -> AsyncIterator[tuple[Api, Any]]:
    """The app with these settings changed, its lifespan running, and an Api to it."""
    application = create_app(settings.model_copy(update=changes))
    async with application.router.lifespan_context(application), asgi_api(application) as api:
        yield api, application


@pytest.fixture
async def notifying(fast_settings: Settings) -> AsyncIterator[tuple[Api, Any]]:
    """The app (scheduler off) with every background loop running fast."""
    async with running(fast_settings) as found:
        yield found


async def watched_service(api: Api, receiver: Receiver, *events: str) -> dict[str, Any]:
    """Acme's service "web" with one monitor (60 s), its channel the receiver (told of
    ``events``, default all)."""
    catalog = await make_service(api)
    service_id = catalog["service"]["id"]
    catalog["monitor"] = await make_monitor(api, service_id, "https://acme.example/")
    channel: dict[str, Any] = {"url": receiver.url}
    if events:
        channel["events"] = list(events)
    await api.call(
        "PUT",
        f"/api/v1/services/{service_id}/notifications",
        json={"channels": [channel]},
        expect=200,
    )
    return catalog


async def push(api: Api, monitor_id: int, *results: tuple[int, bool], **fields: Any) -> None:
    """Results of the monitor at "local": (seconds before now, ok), as an agent sends."""
    now = int(time.time())
    rows = [
        {"monitor_id": monitor_id, "location": "local", "checked_at": utc_text(now - ago), "ok": ok}
        | fields
        for ago, ok in results
    ]
    await api.call("POST", "/api/v1/results", json={"results": rows}, expect=202)


async def deliveries_once(
    api: Api, condition: Any, what: str, seconds: float = 20, query: str = ""
) -> list[dict[str, Any]]:
    """The delivery record (``GET /api/v1/notifications/deliveries{query}``) once
    ``condition(items)`` holds; fails naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        items = await api.items(f"/api/v1/notifications/deliveries{query}")
        if condition(items):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}: {items}")
        await asyncio.sleep(0.05)
