"""Agents' assignments at scale: ``GET /api/v1/agent/monitors`` against a real
``uptally serve`` (uvicorn, scheduler off) on PostgreSQL with N HTTP monitors of one
location, and the agent applying such a list.

For each N (default 50,000 and 100,000):

- the server: a cold full poll (every page, 10,000 a page, as the agent reads it: the
  list is built), a warm one (cached), a 304 poll (the catalog version only), two
  sharded agents (``shard=0/2`` and ``1/2``) polling together after an edit (one build
  between them), and the bytes each moved; wall clock from the client, and the server
  process's CPU time (user + system, from /proc) for the same calls;
- the same list built the old way in process (ORM rows, ``MonitorRead`` per monitor,
  a SHA-256 of the whole list's JSON: what every poll, 304s included, used to cost);
- the agent: applying 50,000 specs to its scheduler, sliced (``Agent._assign``, then
  the scheduler's own slices) and all at once (every job added in one go, as before),
  with the longest time the event loop was held.

    .venv/bin/python -m bench.assignments [--monitors 50000 100000] [--quick]

``--quick`` runs N = 20,000 only (under two minutes). Results go to
bench/results/assignments.json and assignments.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import String, cast, insert, select
from sqlalchemy.engine import make_url

from app.agent.buffer import DiskBuffer
from app.agent.runner import Agent
from app.db import make_engine, make_sessionmaker, transaction
from app.migrate import upgrade
from app.models import Monitor, Service
from app.monitoring.assignments import build_assignment, catalog_version
from app.monitoring.checks import MonitorSpec
from app.sample import seed_sample
from app.schemas.monitors import MonitorRead
from bench.reads import _admin
from bench.run import PG_SERVER
from probes.registry import ProbeContext

RESULTS = Path(__file__).parent / "results"
TOKEN = "bench-admin-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
LOCATION = "edge"
PAGE = 10_000
PATH = "/api/v1/agent/monitors"
SETTLED: dict[str, float] = {}  # server URL -> its background CPU share when measured


@contextmanager
def database() -> Iterator[str]:
    name = f"uptally_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def seed(url: str, count: int) -> None:
    """``count`` HTTP monitors of one service, all listing ``LOCATION``."""
    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        async with transaction(sessions) as session:
            await seed_sample(session)
            service_id = await session.scalar(select(Service.id))
        now = datetime.now(UTC)
        rows = [
            {
                "service_id": service_id,
                "name": f"site {n}",
                "kind": "http",
                "target": f"https://site{n}.customer{n % 500}.example/health",
                "interval_seconds": 60,
                "timeout_seconds": 10,
                "locations": [LOCATION],
                "quorum": 1,
                "failure_confirmations": 1,
                "options": {"expected_status": [200], "keyword": "ok"},
                "enabled": True,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(count)
        ]
        for start in range(0, count, 5_000):
            async with transaction(sessions) as session:
                await session.execute(insert(Monitor), rows[start : start + 5_000])
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, seconds: float = 240) -> float:
    """Wait until the server's start-up work (caches warmed for every monitor) is done:
    less than 50 ms of CPU in a second, or ``seconds``; the CPU share of the last
    second (what the server's background work adds to every figure below)."""
    deadline = time.monotonic() + seconds
    share = 1.0
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(1)
        share = cpu_seconds(pid) - before
        if share < 0.05:
            break
    return share


@contextmanager
def server(url: str, workdir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "UPTALLY_DATABASE_URL": url,
        "UPTALLY_ADMIN_TOKEN": TOKEN,
        "UPTALLY_SCHEDULER_ENABLED": "false",
        "UPTALLY_LOG_LEVEL": "warning",
    }
    log = (workdir / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("uptally serve did not start")
            time.sleep(0.2)
        SETTLED[base] = settle(process.pid)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a slow stop is not what is measured here
            process.kill()
            process.wait()
        log.close()


async def full_poll(
    client: httpx.AsyncClient, shard: str = "0/1", etag: str | None = None
) -> dict[str, Any]:
    """Every page, as the agent reads it; or one 304 when ``etag`` is current."""
    started = time.perf_counter()
    items = pages = size = 0
    tag = None
    while True:
        params: dict[str, Any] = {"location": LOCATION, "limit": PAGE, "offset": items}
        if shard != "0/1":
            params["shard"] = shard
        headers = {"If-None-Match": etag} if etag and not items else {}
        response = await client.get(PATH, params=params, headers=headers)
        pages += 1
        size += len(response.content)
        if response.status_code == 304:
            break
        response.raise_for_status()
        body = response.json()
        tag = response.headers["etag"]
        items += len(body["items"])
        if not body["items"] or items >= body["total"]:
            break
    return {
        "seconds": time.perf_counter() - started,
        "items": items,
        "pages": pages,
        "bytes": size,
        "etag": tag,
        "status": response.status_code,
    }


async def measure_server(base: str, pid: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=300) as client:

        async def timed(name: str, coroutine: Any) -> Any:
            cpu = cpu_seconds(pid)
            result = await coroutine
            result_cpu = cpu_seconds(pid) - cpu
            out[name] = {
                **{k: v for k, v in result.items() if k != "etag"},
                "server_cpu_seconds": result_cpu,
            }
            return result

        cold = await timed("cold_full_poll", full_poll(client))
        await timed("warm_full_poll", full_poll(client))
        samples, cpu = [], cpu_seconds(pid)
        for _ in range(20):
            one = await full_poll(client, etag=cold["etag"])
            assert one["status"] == 304, one
            samples.append(one["seconds"])
        out["poll_304"] = {
            "median_seconds": statistics.median(samples),
            "max_seconds": max(samples),
            "bytes": one["bytes"],
            "server_cpu_seconds_each": (cpu_seconds(pid) - cpu) / len(samples),
        }
        # An edit: both shards' agents poll at once; one build serves them.
        first = (await client.get("/api/v1/monitors", params={"limit": 1})).json()["items"][0]
        edited = await client.patch(f"/api/v1/monitors/{first['id']}", json={"name": "renamed"})
        edited.raise_for_status()
        cpu, started = cpu_seconds(pid), time.perf_counter()
        both = await asyncio.gather(full_poll(client, "0/2"), full_poll(client, "1/2"))
        out["two_shards_after_an_edit"] = {
            "seconds": time.perf_counter() - started,
            "items": [b["items"] for b in both],
            "bytes": [b["bytes"] for b in both],
            "server_cpu_seconds": cpu_seconds(pid) - cpu,
        }
    return out


async def new_build(url: str) -> dict[str, Any]:
    """One build and the version query, in process (no HTTP, no server around)."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            versions = []
            for _ in range(5):
                started = time.perf_counter()
                await catalog_version(session)
                versions.append(time.perf_counter() - started)
            started = time.perf_counter()
            built = await build_assignment(session, LOCATION, "http://127.0.0.1/")
            return {
                "build_seconds": time.perf_counter() - started,
                "items": len(built.items),
                "bytes": sum(len(item) + 1 for item in built.items),
                "version_query_median_seconds": statistics.median(versions),
            }
    finally:
        await engine.dispose()


async def old_build(url: str) -> dict[str, Any]:
    """The list as the route built it before (in process, the heartbeat URL aside):
    every poll paid this, 304s included."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            monitors = await session.scalars(
                select(Monitor)
                .where(
                    Monitor.enabled.is_(True),
                    cast(Monitor.locations, String).like(f'%"{LOCATION}"%'),
                )
                .order_by(Monitor.id)
            )
            items = [
                MonitorRead.model_validate(m).model_dump(mode="json")
                for m in monitors
                if LOCATION in m.locations
            ]
            text = json.dumps(items, sort_keys=True).encode()
            hashlib.sha256(text).hexdigest()
            return {
                "seconds": time.perf_counter() - started,
                "items": len(items),
                "bytes": len(text),
            }
    finally:
        await engine.dispose()


async def measure_agent(items: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    """Apply ``items`` to a fresh agent's scheduler, sliced and (a fresh one) at once,
    each with a ticker measuring the longest the loop was held."""
    out: dict[str, Any] = {}
    for name in ("sliced", "at_once"):
        buffer = DiskBuffer(workdir / f"agent-{name}.db")
        probes = ProbeContext()
        agent = Agent("http://127.0.0.1:9", "token", LOCATION, buffer, probes)

        async def no_check(monitor_id: int) -> None:
            """Jobs that fall due while the list is applied run this, not a probe: the
            apply is what is measured."""

        agent.scheduler.run_job = no_check  # type: ignore[method-assign]
        agent.scheduler.start()
        gaps: list[float] = []

        async def ticker(gaps: list[float] = gaps) -> None:
            last = time.perf_counter()
            while True:
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        beside = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        if name == "sliced":
            await agent._assign(items)
            added = getattr(agent.scheduler, "added", None)  # the scheduler's own slices
            if added is not None:
                await added()
        else:  # as before: every spec built and every job added in one go
            for spec in map(MonitorSpec.from_api, items):
                agent.scheduler.schedule(spec)
        seconds = time.perf_counter() - started
        # Until the callbacks the apply queued (APScheduler's wake-ups) have run too.
        drained = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(drained.set_result, None)
        await drained
        until_free = time.perf_counter() - started
        await asyncio.sleep(0.01)
        beside.cancel()
        out[name] = {
            "monitors": len(agent.scheduler.specs),
            "seconds": seconds,
            "seconds_until_queued_work_done": until_free,
            "longest_loop_block_seconds": max(gaps),
        }
        agent.scheduler.shutdown()
        await agent.client.aclose()
        await probes.aclose()
        buffer.close()
    return out


async def fetch_items(base: str, count: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=300) as client:
        while len(items) < count:
            response = await client.get(
                PATH, params={"location": LOCATION, "limit": PAGE, "offset": len(items)}
            )
            page = response.json()["items"]
            if not page:
                break
            items.extend(page)
    return items[:count]


def run(count: int, agent_specs: int, workdir: Path) -> dict[str, Any]:
    with database() as url:
        started = time.perf_counter()
        asyncio.run(seed(url, count))
        seeded = time.perf_counter() - started
        with server(url, workdir) as (base, pid):
            polls = asyncio.run(measure_server(base, pid))
            polls["background_cpu_share_at_start"] = SETTLED[base]
            items = asyncio.run(fetch_items(base, agent_specs))
        old = asyncio.run(old_build(url))
        new = asyncio.run(new_build(url))
    agent = asyncio.run(measure_agent(items, workdir))
    return {
        "monitors": count,
        "seed_seconds": seeded,
        "server": polls,
        "old_build_in_process": old,
        "new_build_in_process": new,
        "agent_apply": agent,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Agents' assignments at scale",
        "",
        f"Measured {report['measured_at']} on {report['machine']} (PostgreSQL; a shared, "
        "busy 2-core machine: the lead reruns the figures on a quiet one). Command: "
        "`.venv/bin/python -m bench.assignments`.",
        "",
        "| monitors | cold full poll | warm full poll | 304 poll (median) | bytes (full) "
        "| 2 shards after an edit | old build (every poll, 304s too) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run_ in report["runs"]:
        s = run_["server"]
        lines.append(
            f"| {run_['monitors']:,} "
            f"| {s['cold_full_poll']['seconds']:.2f} s ({s['cold_full_poll']['pages']} pages, "
            f"server CPU {s['cold_full_poll']['server_cpu_seconds']:.2f} s) "
            f"| {s['warm_full_poll']['seconds']:.2f} s (server CPU "
            f"{s['warm_full_poll']['server_cpu_seconds']:.2f} s) "
            f"| {s['poll_304']['median_seconds'] * 1000:.1f} ms (server CPU "
            f"{s['poll_304']['server_cpu_seconds_each'] * 1000:.1f} ms) "
            f"| {s['cold_full_poll']['bytes'] / 1e6:.1f} MB "
            f"| {s['two_shards_after_an_edit']['seconds']:.2f} s "
            f"| {run_['old_build_in_process']['seconds']:.2f} s |"
        )
    lines += [
        "",
        "In process (no HTTP): one build now and before, and the version query a 304 costs.",
        "",
        "| monitors | build now | build before (every poll) | version query (median) "
        "| server background CPU when measured |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run_ in report["runs"]:
        new, old = run_["new_build_in_process"], run_["old_build_in_process"]
        lines.append(
            f"| {run_['monitors']:,} | {new['build_seconds']:.2f} s "
            f"| {old['seconds']:.2f} s "
            f"| {new['version_query_median_seconds'] * 1000:.1f} ms "
            f"| {run_['server']['background_cpu_share_at_start']:.0%} of a core |"
        )
    lines += [
        "",
        "Agent side: applying the assignment to the scheduler (APScheduler jobs).",
        "",
        "| monitors | sliced (`Agent._assign`) | longest loop block | at once (before) "
        "| longest loop block |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run_ in report["runs"]:
        a = run_["agent_apply"]
        lines.append(
            f"| {a['sliced']['monitors']:,} "
            f"| {a['sliced']['seconds_until_queued_work_done']:.2f} s "
            f"| {a['sliced']['longest_loop_block_seconds'] * 1000:.0f} ms "
            f"| {a['at_once']['seconds']:.2f} s, "
            f"{a['at_once']['seconds_until_queued_work_done']:.2f} s with its queued wake-ups "
            f"| {a['at_once']['longest_loop_block_seconds'] * 1000:.0f} ms |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitors", type=int, nargs="+", default=[50_000, 100_000])
    parser.add_argument("--agent-specs", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="N = 20,000 only")
    args = parser.parse_args(argv)
    counts = [20_000] if args.quick else args.monitors
    specs = 20_000 if args.quick else args.agent_specs
    with tempfile.TemporaryDirectory() as workdir:
        runs = [run(count, min(specs, count), Path(workdir)) for count in counts]
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "quick": args.quick,
        "runs": runs,
    }
    name = "assignments-quick" if args.quick else "assignments"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main(sys.argv[1:])
