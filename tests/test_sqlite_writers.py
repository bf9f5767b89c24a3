"""Many concurrent writers on SQLite (the default database) get no 5xx (issue 8, item 9).

Sixteen agents push valid batches at once while billing reads credits and a service's
SLA (each folding first), an admin writes the catalog and a cron job pings a heartbeat,
three rounds in a row. Before ``app.sqlite_writes`` the writers polled SQLite's lock
against each other and an unlucky one gave up after the busy timeout: 2-6 ``database
is locked`` per run at 10 s. Here the busy timeout is cut to 0.2 s, so a writer of this
process that waits on SQLite instead of taking its turn fails within the test, and every
accepted row must be stored."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

import app.db
from app.config import Settings
from app.main import create_app
from app.models import CheckResult
from tests.conftest import ADMIN_TOKEN, Api, asgi_api
from tests.helpers import make_key, make_service

AGENTS = 16
BATCHES = 5  # per agent and round
ROWS = 60  # per batch
ROUNDS = 3
MONITORS = 6
START = 1_748_736_000  # 2025-06-01T00:00:00Z


def instant(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "uptally.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


class Tally:
    """Every status seen, and the server errors with what answered them."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []

    def note(self, what: str, status: int, text: str) -> None:
        self.statuses[status] += 1
        if status >= 500:
            self.errors.append(f"{what}: {status} {text[:200]}")


async def test_concurrent_agents_readers_and_catalog_writes_get_no_5xx(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    locations = [f"loc{i}" for i in range(AGENTS)]
    agent_keys = [await make_key(sqlite_url, "agent", locations=[loc]) for loc in locations]
    billing = await make_key(sqlite_url, "billing")
    settings = Settings(
        database_url=sqlite_url,
        admin_token=ADMIN_TOKEN,
        scheduler_enabled=False,
        fold_interval_seconds=0.2,
        dispatch_interval_seconds=0.2,
        read_fold_budget_seconds=0.2,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application), asgi_api(application) as api:
        catalog = await make_service(api)
        service_id = catalog["service"]["id"]
        monitors = [
            (
                await api.create(
                    "/api/v1/monitors",
                    {
                        "service_id": service_id,
                        "name": f"m{i}",
                        "kind": "tcp",
                        "target": f"db{i}.acme.example:5432",
                        "locations": locations,
                        "quorum": 2,
                    },
                )
            )["id"]
            for i in range(MONITORS)
        ]
        beat = await api.create(
            "/api/v1/monitors",
            {"service_id": service_id, "name": "cron", "kind": "heartbeat", "target": "nightly"},
        )
        beat_path = "/heartbeat/" + beat["heartbeat_url"].rsplit("/", 1)[1]
        pushed = 0
        for round_ in range(ROUNDS):
            tally = Tally()
            pushed += await one_round(
                api, round_, monitors, locations, agent_keys, billing, service_id, beat_path, tally
            )
            assert not tally.errors, (round_, tally.errors, tally.statuses)
            assert tally.statuses[202] == AGENTS * BATCHES, tally.statuses
        runtime = application.state.runtime
        async with runtime.sessions() as session:
            stored = await session.scalar(
                select(func.count())
                .select_from(CheckResult)
                .where(CheckResult.monitor_id.in_(monitors))
            )
    assert stored == pushed == ROUNDS * AGENTS * BATCHES * ROWS


async def one_round(
    api: Api,
    round_: int,
    monitors: list[int],
    locations: list[str],
    agent_keys: list[str],
    billing: str,
    service_id: int,
    beat_path: str,
    tally: Tally,
) -> int:
    """Agents push their batches all at once; readers, the catalog writer and the
    heartbeat keep going until the agents are done. Returns the rows accepted."""
    done = asyncio.Event()
    accepted = 0

    async def agent(index: int) -> None:
        nonlocal accepted
        for batch in range(BATCHES):
            # Distinct instants per (monitor, location): nothing collapses as a duplicate.
            first = START + ((round_ * BATCHES + batch) * ROWS // MONITORS + 1) * 60
            rows = [
                {
                    "monitor_id": monitors[row % MONITORS],
                    "location": locations[index],
                    "checked_at": instant(first + (row // MONITORS) * 60),
                    "ok": (row + batch + index) % 11 != 0,
                }
                for row in range(ROWS)
            ]
            response = await api.call(
                "POST", "/api/v1/results", json={"results": rows}, token=agent_keys[index]
            )
            tally.note("results", response.status_code, response.text)
            if response.status_code == 202:
                accepted += response.json()["accepted"]

    async def reader() -> None:
        while not done.is_set():
            for path in ("/api/v1/credits?month=2025-06", f"/api/v1/services/{service_id}/sla"):
                response = await api.call("GET", path, token=billing)
                tally.note(path, response.status_code, response.text)

    async def admin() -> None:
        count = 0
        while not done.is_set():
            count += 1
            slug = f"r{round_}c{count}"
            response = await api.call(
                "POST", "/api/v1/customers", json={"slug": slug, "name": slug.upper()}
            )
            tally.note("customer", response.status_code, response.text)
            monitor = monitors[count % MONITORS]
            response = await api.call(
                "PATCH", f"/api/v1/monitors/{monitor}", json={"name": f"m{monitor}-{count}"}
            )
            tally.note("monitor", response.status_code, response.text)

    async def cron() -> None:
        while not done.is_set():
            response = await api.call("POST", beat_path, token=None)
            tally.note("heartbeat", response.status_code, response.text)
            await asyncio.sleep(0.05)

    others = [asyncio.create_task(job()) for job in (reader, reader, admin, cron)]
    try:
        await asyncio.wait_for(asyncio.gather(*(agent(i) for i in range(AGENTS))), 60)
    finally:
        done.set()
        await asyncio.gather(*others)
    return accepted
