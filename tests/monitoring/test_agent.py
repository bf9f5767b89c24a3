"""The agent's disk buffer and sender, against the real app (in process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from app.agent.buffer import DiskBuffer
from app.agent.client import ServerClient
from app.agent.runner import Agent
from app.db import make_engine, make_sessionmaker
from app.models import CheckResult
from app.monitoring.checks import ResultIn
from app.sla.periods import utc_text
from probes.registry import ProbeContext
from tests.conftest import ADMIN_TOKEN, Api
from tests.helpers import free_port, make_monitor


def row(monitor_id: int, checked_at: int, ok: bool = True, error: str | None = None) -> ResultIn:
    return ResultIn(
        monitor_id=monitor_id,
        location="edge",
        checked_at=checked_at,
        ok=ok,
        interval_seconds=60,
        error=error,
    )


def test_the_buffer_keeps_order_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    buffer = DiskBuffer(path)
    for at in (300, 100, 200):
        buffer.add(row(1, at))
    buffer.save("assignment", [{"id": 1}])
    buffer.close()
    reopened = DiskBuffer(path)
    assert [row.checked_at for _, row in reopened.oldest(10)] == [300, 100, 200]
    assert reopened.load("assignment") == [{"id": 1}]
    reopened.remove([seq for seq, _ in reopened.oldest(2)])
    assert [row.checked_at for _, row in reopened.oldest(10)] == [200]
    reopened.close()


class RecordingTransport(httpx.ASGITransport):
    """The app in process, remembering each request's method, path and status."""

    def __init__(self, app: Any) -> None:
        super().__init__(app=app)
        self.seen: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response


async def test_the_agent_sends_in_order_and_drops_only_rows_the_server_refuses(
    api: Api, app: Any, db_url: str, catalog: dict[str, Any], tmp_path: Path
) -> None:
    monitor = await make_monitor(
        api, catalog["service"]["id"], "db.acme.example:5432", kind="tcp", locations=["edge"]
    )
    buffer = DiskBuffer(tmp_path / "agent.db")
    buffer.add(row(monitor["id"], 1_750_000_000))
    buffer.add(row(999_999, 1_750_000_060))  # no such monitor
    buffer.add(row(monitor["id"], 1_750_000_120, ok=False, error="refused"))
    probes = ProbeContext()
    transport = RecordingTransport(app)
    agent = Agent("http://uptally.test", ADMIN_TOKEN, "edge", buffer, probes, transport=transport)
    try:
        assert await agent.send_pending() == 2
        assert buffer.count() == 0
        assert await agent.poll()
        assert set(agent.scheduler.specs) == {monitor["id"]}
        assert await agent.poll()  # 304 the second time: nothing changed
    finally:
        await agent.client.aclose()
        await probes.aclose()
        buffer.close()
    assert transport.seen == [
        ("POST", "/api/v1/results", 422),  # the whole batch, refused for its 2nd row
        ("POST", "/api/v1/results", 202),  # the rest, without it
        ("GET", "/api/v1/agent/monitors", 200),
        ("GET", "/api/v1/agent/monitors", 304),
    ]
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            stored = (
                await session.execute(
                    select(CheckResult.checked_at, CheckResult.ok, CheckResult.error)
                    .where(CheckResult.monitor_id == monitor["id"])
                    .order_by(CheckResult.checked_at)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in stored] == [
        (1_750_000_000, True, None),
        (1_750_000_120, False, "refused"),
    ]


async def test_a_buffered_row_with_a_nul_or_a_lone_surrogate_is_sent_cleaned(
    api: Api, app: Any, db_url: str, catalog: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 8, item 7: a NUL in a buffered error once got a 500 on PostgreSQL for the
    whole batch, forever, with fresh rows waiting behind it (and a lone surrogate
    could not even be encoded). The agent sends such text cleaned, and everything
    behind it goes through in the same POST."""
    monitor = await make_monitor(
        api, catalog["service"]["id"], "db.acme.example:5432", kind="tcp", locations=["edge"]
    )
    buffer = DiskBuffer(tmp_path / "agent.db")
    buffer.add(row(monitor["id"], 1_750_000_000, ok=False, error="banner \x00 here"))
    buffer.add(row(monitor["id"], 1_750_000_060, ok=False, error="bad \ud800 text"))
    buffer.add(row(monitor["id"], 1_750_000_120))
    probes = ProbeContext()
    transport = RecordingTransport(app)
    agent = Agent("http://uptally.test", ADMIN_TOKEN, "edge", buffer, probes, transport=transport)
    try:
        assert await agent.send_pending() == 3
    finally:
        await agent.client.aclose()
        await probes.aclose()
    assert buffer.count() == 0
    buffer.close()
    assert transport.seen == [("POST", "/api/v1/results", 202)]
    stored = await api.items(f"/api/v1/monitors/{monitor['id']}/results")
    assert [item["error"] for item in stored] == [None, "bad \\ud800 text", "banner \\x00 here"]


async def test_an_unreachable_server_keeps_results_buffered(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "agent.db")
    buffer.add(row(1, 1_750_000_000))
    probes = ProbeContext()
    agent = Agent(f"http://127.0.0.1:{free_port()}", "token", "edge", buffer, probes)
    try:
        assert await agent.send_pending() == 0
        assert not await agent.poll()
    finally:
        await agent.client.aclose()
        await probes.aclose()
    assert buffer.count() == 1
    buffer.close()


async def test_the_assignment_is_read_page_by_page_and_again_if_it_changes() -> None:
    monitors = [
        {
            "id": ident,
            "kind": "tcp",
            "target": "db.acme.example:5432",
            "options": {},
            "interval_seconds": 60,
            "timeout_seconds": 5,
            "locations": ["edge"],
        }
        for ident in (1, 2, 3)
    ]
    asked: list[tuple[int, str | None]] = []

    def server(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        etag = '"v1"' if not asked else '"v2"'  # the list changes after the first page
        asked.append((offset, request.headers.get("if-none-match")))
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        page = {"items": monitors[offset : offset + 2], "total": 3, "limit": 2, "offset": offset}
        return httpx.Response(200, json=page, headers={"ETag": etag})

    client = ServerClient("http://uptally.test", "token", httpx.MockTransport(server))
    try:
        fetched = await client.assignment("edge", None)
        assert fetched is not None
        items, etag = fetched
        assert [item["id"] for item in items] == [1, 2, 3]
        assert etag == '"v2"'
        # Page 2 came with another version: both pages were read again.
        assert asked == [(0, None), (2, None), (0, None), (2, None)]
        assert await client.assignment("edge", '"v2"') is None
        assert asked[-1] == (0, '"v2"')
    finally:
        await client.aclose()


def test_the_agent_loads_neither_the_database_layer_nor_the_web_framework() -> None:
    """An agent host needs only the probes: importing the agent (as ``uptally agent``
    does) must not pull in SQLAlchemy, FastAPI or pydantic."""
    code = (
        "import sys, app.agent\n"
        "for name in ('sqlalchemy', 'fastapi', 'starlette', 'pydantic', 'aiosqlite', 'asyncpg',"
        " 'app.agent.runner', 'app.monitoring.scheduler', 'probes.registry'):\n"
        "    print(name, name in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    loaded = dict(line.split() for line in done.stdout.splitlines())
    assert loaded == {
        "sqlalchemy": "False",
        "fastapi": "False",
        "starlette": "False",
        "pydantic": "False",
        "aiosqlite": "False",
        "asyncpg": "False",
        # ...while the agent itself, its scheduler and the probes did load.
        "app.agent.runner": "True",
        "app.monitoring.scheduler": "True",
        "probes.registry": "True",
    }


async def test_the_agent_drops_every_refused_row_of_a_batch_at_once(
    api: Api, app: Any, catalog: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 8, item 8: 2,000 refused rows took 2,021 POSTs (one round trip per dropped
    row). The 422 names every bad row of the batch, and the agent drops them all at once:
    the buffer drains in a handful of POSTs, and every good row is stored."""
    monitor = await make_monitor(
        api, catalog["service"]["id"], "db.acme.example:5432", kind="tcp", locations=["edge"]
    )
    buffer = DiskBuffer(tmp_path / "agent.db")
    good: list[int] = []
    for i in range(2_050):
        at = 1_750_000_000 + 60 * i
        if i % 41 == 0:
            buffer.add(row(monitor["id"], at))  # 50 good rows, spread through the buffer
            good.append(at)
        elif i % 200 == 7:
            buffer.add(row(monitor["id"], 900_000_000 + i))  # checked_at before 2000
        else:
            buffer.add(row(999_999, at))  # no such monitor
    assert buffer.count() - len(good) == 2_000
    probes = ProbeContext()
    transport = RecordingTransport(app)
    agent = Agent("http://uptally.test", ADMIN_TOKEN, "edge", buffer, probes, transport=transport)
    try:
        assert await agent.send_pending() == len(good)
    finally:
        await agent.client.aclose()
        await probes.aclose()
    assert buffer.count() == 0
    buffer.close()
    statuses = [status for method, _, status in transport.seen if method == "POST"]
    assert len(statuses) <= 8, statuses
    assert statuses[-1] == 202
    stored = await api.items(f"/api/v1/monitors/{monitor['id']}/results", params={"limit": 1000})
    assert sorted(item["checked_at"] for item in stored) == [utc_text(at) for at in good]
