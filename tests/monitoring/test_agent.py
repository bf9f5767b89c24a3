"""The agent's disk buffer and sender, against the real app (in process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from app.agent import Agent, DiskBuffer
from app.monitoring.ingest import ResultIn
from probes.registry import ProbeContext
from tests.conftest import ADMIN_TOKEN, Api


def test_the_buffer_keeps_order_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    buffer = DiskBuffer(path)
    for at in (300, 100, 200):
        buffer.add(ResultIn(1, "edge", at, True, 60))
    buffer.save("assignment", [{"id": 1}])
    buffer.close()
    reopened = DiskBuffer(path)
    assert [row.checked_at for _, row in reopened.oldest(10)] == [300, 100, 200]
    assert reopened.load("assignment") == [{"id": 1}]
    reopened.remove([seq for seq, _ in reopened.oldest(2)])
    assert [row.checked_at for _, row in reopened.oldest(10)] == [200]
    reopened.close()


async def test_the_agent_sends_in_order_and_drops_only_rows_the_server_refuses(
    api: Api, app: Any, catalog: dict[str, Any], tmp_path: Path
) -> None:
    monitor = await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "edge",
            "kind": "tcp",
            "target": "db.acme.example:5432",
            "locations": ["edge"],
        },
    )
    buffer = DiskBuffer(tmp_path / "agent.db")
    buffer.add(ResultIn(monitor["id"], "edge", 1_750_000_000, True, 60))
    buffer.add(ResultIn(999_999, "edge", 1_750_000_060, True, 60))  # no such monitor
    buffer.add(ResultIn(monitor["id"], "edge", 1_750_000_120, False, 60, error="refused"))
    probes = ProbeContext()
    agent = Agent(
        "http://uptally.test",
        ADMIN_TOKEN,
        "edge",
        buffer,
        probes,
        transport=httpx.ASGITransport(app=app),
    )
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
    figures = (await api.call("GET", f"/api/v1/monitors/{monitor['id']}", expect=200)).json()
    assert figures["locations"] == ["edge"]


async def test_an_unreachable_server_keeps_results_buffered(tmp_path: Path) -> None:
    from tests.probes.conftest import free_port

    buffer = DiskBuffer(tmp_path / "agent.db")
    buffer.add(ResultIn(1, "edge", 1_750_000_000, True, 60))
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
