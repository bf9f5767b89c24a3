"""The agent at scale: results written once a tick (and on a clean stop), assignments
read by shard and applied in slices, and its own metrics over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.agent.buffer import DiskBuffer
from app.agent.metrics import listen_address
from app.agent.runner import SLICE, Agent
from app.agent.sink import TickWriter
from app.cli import main
from app.monitoring.checks import ResultIn
from probes.guard import AddressPolicy
from probes.registry import ProbeContext
from tests.conftest import ADMIN_TOKEN, Api
from tests.helpers import Catalog, another_task, free_port, make_monitor, until


@contextmanager
def listening() -> Iterator[int]:
    """A local TCP port that accepts connections (a tcp check's target)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(100)
        yield server.getsockname()[1]


def tcp_items(port: int, ids: range) -> list[dict[str, Any]]:
    return [
        {
            "id": ident,
            "kind": "tcp",
            "target": f"127.0.0.1:{port}",
            "options": {},
            "interval_seconds": 60,
            "timeout_seconds": 5,
            "locations": ["edge"],
        }
        for ident in ids
    ]


LOOPBACK = AddressPolicy.from_settings(True, [])  # the targets here are local


def result(checked_at: int) -> ResultIn:
    return ResultIn(monitor_id=1, location="edge", checked_at=checked_at, ok=True)


async def test_results_wait_in_memory_for_the_tick_then_go_to_disk_in_order(
    tmp_path: Path,
) -> None:
    buffer = DiskBuffer(tmp_path / "agent.db")
    writer = TickWriter(buffer)
    for at in (300, 100, 200):
        writer.add(result(at))
    assert buffer.count() == 0 and writer.held == 3
    assert await writer.flush() == 3
    assert writer.held == 0
    assert [row.checked_at for _, row in buffer.oldest(10)] == [300, 100, 200]
    assert buffer.pending == buffer.count() == 3
    buffer.remove([seq for seq, _ in buffer.oldest(2)])
    assert buffer.pending == buffer.count() == 1
    buffer.close()


async def test_rows_that_cannot_be_written_are_kept_for_the_next_tick(tmp_path: Path) -> None:
    buffer = DiskBuffer(tmp_path / "agent.db")
    writer = TickWriter(buffer)
    writer.add(result(100))
    buffer.close()  # the next write fails
    with pytest.raises(sqlite3.ProgrammingError):
        await writer.flush()
    writer.add(result(200))
    assert [row.checked_at for row in writer.rows] == [100, 200]


async def test_results_still_in_memory_are_on_disk_after_a_clean_stop(tmp_path: Path) -> None:
    """A tick too long to come: the checks' results are only in memory when the agent
    is told to stop, and the stop writes them to the buffer (the server is down, so
    they stay there for the next start)."""
    path = tmp_path / "agent.db"
    with listening() as port:
        buffer = DiskBuffer(path)
        buffer.save("assignment", tcp_items(port, range(1, 4)))
        probes = ProbeContext(policy=LOOPBACK)
        agent = Agent(
            f"http://127.0.0.1:{free_port()}",
            "token",
            "edge",
            buffer,
            probes,
            spread=0.5,  # first runs within half a second
            tick=3600,
        )
        running = asyncio.create_task(agent.run())
        try:
            await until(lambda: agent.scheduler.stats["checks"] == 3, "three checks")
            assert buffer.pending == 0 and agent.writer.held == 3
        finally:
            agent.stop.set()
            await running
            await probes.aclose()
            buffer.close()
    reopened = DiskBuffer(path)
    assert sorted(row.monitor_id for _, row in reopened.oldest(10)) == [1, 2, 3]
    assert all(row.ok for _, row in reopened.oldest(10))
    reopened.close()


async def test_a_large_assignment_is_read_with_the_loop_free_between_slices(
    tmp_path: Path,
) -> None:
    buffer = DiskBuffer(tmp_path / "agent.db")
    probes = ProbeContext()
    agent = Agent("http://uptally.test", "token", "edge", buffer, probes)
    try:
        async with another_task() as turns:
            await agent._assign(tcp_items(9, range(1, 10 * SLICE + 1)))
        assert len(agent.scheduler.specs) == 10 * SLICE
        assert len(turns) >= 10  # another task ran between the slices
        # Applying the same list again changes nothing; a shorter one removes the rest.
        await agent._assign(tcp_items(9, range(1, 3)))
        assert set(agent.scheduler.specs) == {1, 2}
    finally:
        await agent.client.aclose()
        await probes.aclose()
        buffer.close()


async def test_a_sharded_agent_asks_the_server_for_its_shard_only(
    api: Api, app: Any, catalog: Catalog, tmp_path: Path
) -> None:
    ids = [
        (
            await make_monitor(
                api,
                catalog["service"]["id"],
                f"db{n}.acme.example:5432",
                kind="tcp",
                name=f"db{n}",
                locations=["edge"],
            )
        )["id"]
        for n in range(5)
    ]
    asked: list[httpx.URL] = []

    class Recording(httpx.ASGITransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            asked.append(request.url)
            return await super().handle_async_request(request)

    buffer = DiskBuffer(tmp_path / "agent.db")
    probes = ProbeContext()
    agent = Agent(
        "http://uptally.test",
        ADMIN_TOKEN,
        "edge",
        buffer,
        probes,
        shard=(1, 2),
        transport=Recording(app=app),
    )
    try:
        assert await agent.poll()
        assert set(agent.scheduler.specs) == {i for i in ids if i % 2 == 1}
        assert asked[0].params["shard"] == "1/2"
        # What the server sent is the shard already: the saved assignment holds no other.
        assert {item["id"] % 2 for item in buffer.load("assignment")} == {1}
    finally:
        await agent.client.aclose()
        await probes.aclose()
        buffer.close()


async def test_the_metrics_listener_serves_checks_shed_lag_buffer_and_last_poll(
    api: Api, app: Any, catalog: Catalog, tmp_path: Path
) -> None:
    with listening() as port:
        await make_monitor(
            api, catalog["service"]["id"], f"127.0.0.1:{port}", kind="tcp", locations=["edge"]
        )
        buffer = DiskBuffer(tmp_path / "agent.db")
        probes = ProbeContext(policy=LOOPBACK)
        agent = Agent(
            "http://uptally.test",
            ADMIN_TOKEN,
            "edge",
            buffer,
            probes,
            spread=0.5,  # first runs within half a second
            send_every=3600,  # results stay pending: the gauge must show them
            transport=httpx.ASGITransport(app=app),
        )
        stop_serving = agent.metrics.serve("127.0.0.1", metrics_port := free_port())
        running = asyncio.create_task(agent.run())
        try:
            await until(lambda: agent.scheduler.stats["checks"] >= 1, "a check")
            await until(lambda: agent.writer.held == 0 and buffer.pending, "a tick")
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
        finally:
            agent.stop.set()
            await running
            stop_serving()
            await probes.aclose()
            buffer.close()
    assert response.status_code == 200
    samples = {
        (sample.name, sample.labels.get("le")): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.labels.get("location") == "edge"
    }
    # The first send is the one in run's finally (send_every is an hour): none yet.
    assert samples[("uptally_agent_checks_total", None)] == 1
    assert samples[("uptally_agent_shed_total", None)] == 0
    assert samples[("uptally_agent_check_lag_seconds_count", None)] == 1
    assert samples[("uptally_agent_check_lag_seconds_bucket", "+Inf")] == 1
    assert samples[("uptally_agent_buffer_pending_rows", None)] >= 1
    assert samples[("uptally_agent_assigned_monitors", None)] == 1
    assert samples[("uptally_agent_last_poll_timestamp_seconds", None)] > 1.7e9
    assert ("uptally_agent_last_send_timestamp_seconds", None) in samples


def test_a_listen_address_is_host_and_port() -> None:
    assert listen_address("127.0.0.1:9108") == ("127.0.0.1", 9108)
    assert listen_address("[::1]:9108") == ("::1", 9108)
    for bad in ("9108", "host:", ":9108", "host:0", "host:65536", "host:x"):
        with pytest.raises(ValueError):
            listen_address(bad)


@pytest.mark.parametrize("value", ["9108", "localhost:port", "[::1]:99999"])
def test_a_bad_metrics_listen_address_is_refused_before_starting(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["agent", "--server", "http://127.0.0.1:9", "--location", "fra", "--token", "t"]
    argv += ["--buffer", str(tmp_path / "agent.db"), "--metrics-listen", value]
    assert main(argv) == 2
    assert f"--metrics-listen: expected HOST:PORT, e.g. 127.0.0.1:9108, not {value!r}" in (
        capsys.readouterr().err
    )


def test_a_metrics_port_in_use_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["agent", "--server", "http://127.0.0.1:9", "--location", "fra", "--token", "t"]
        argv += ["--buffer", str(tmp_path / "agent.db"), "--metrics-listen", f"127.0.0.1:{port}"]
        assert main(argv) == 2
    assert f"--metrics-listen 127.0.0.1:{port}: Address already in use" in capsys.readouterr().err
