"""Status pages and badges through a real ``uptally serve`` (no scheduler).

One customer with 50 services of one monitor each and 90 days of history at 1-minute
checks: the stored timeline that folding 6.5 million results gives (outages of 2 to 90
minutes on about one day in eight, one-check blips that confirmations would ignore,
a few hours of no data), built with the folding code itself, plus the last hour of
raw results. Measured:

- cold: every request recomputes the page (``UPTALLY_STATUS_MAX_AGE_SECONDS`` tiny):
  JSON and HTML, p50 / p99; target p99 < 500 ms;
- warm: the page served from the cache by concurrent clients: requests/s, p50 / p99;
  target p99 < 50 ms;
- badges warm: requests/s of ``status.svg`` and ``uptime.svg``; target >= 1,000/s.

Clients run in separate processes on the same machine (they share its cores with the
server, so the figures are a floor).

    .venv/bin/python -m bench.status [--db sqlite postgresql] [--seconds 10]

Results go to bench/results/status.json and bench/results/status.md (quoted in README).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from app.db import make_engine, make_sessionmaker, transaction
from app.migrate import upgrade
from app.models import CheckResult, Customer, LocationSegment, Monitor, Service
from app.sample import standard_policy
from app.sla.timeline import Observation, fold_location
from bench.reads import database, percentile
from tests.e2e_server import running_server

RESULTS = Path(__file__).parent / "results"
SERVICES = 50
DAYS = 90
STEP = 60


def timeline(rng: random.Random, start: int, end: int) -> list[Observation]:
    """1-minute results over [start, end): mostly up, with outages, blips and gaps."""
    observations = []
    at = start
    outage_until = gap_until = 0
    while at < end:
        if at >= outage_until and rng.random() < 1 / (8 * 1440):  # ~ one day in eight
            outage_until = at + rng.randint(2, 90) * 60
        if at >= gap_until and rng.random() < 1 / (30 * 1440):
            gap_until = at + rng.randint(1, 4) * 3600
        if at < gap_until:
            at += STEP
            continue
        ok = at >= outage_until and rng.random() > 0.002
        observations.append(Observation(at, ok, STEP))
        at += STEP
    return observations


async def seed(url: str, now: int) -> None:
    engine = make_engine(url)
    rng = random.Random(7)
    start = now - (DAYS + 5) * 86_400
    stamp = datetime.fromtimestamp(now, UTC)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            policy = standard_policy(stamp)
            session.add(policy)
            customer = Customer(
                slug="bench", name="Bench Hosting", timezone="Europe/Berlin", created_at=stamp
            )
            session.add(customer)
            await session.flush()
            for n in range(SERVICES):
                service = Service(
                    customer_id=customer.id,
                    policy_id=policy.id,
                    name=f"Service {n:02d}",
                    slug=f"svc-{n:02d}",
                    monthly_fee=100,
                    currency="EUR",
                    starts_at=datetime.fromtimestamp(start, UTC),
                    created_at=stamp,
                )
                session.add(service)
                await session.flush()
                monitor = Monitor(
                    service_id=service.id,
                    name="https",
                    kind="http",
                    target=f"https://svc-{n}.bench.example/",
                    interval_seconds=STEP,
                    timeout_seconds=10,
                    locations=["local"],
                    quorum=1,
                    failure_confirmations=2,
                    options={},
                    enabled=True,
                    created_at=stamp,
                    updated_at=stamp,
                )
                session.add(monitor)
                await session.flush()
                observations = timeline(rng, start, now)
                segments = fold_location(observations, confirmations=2)
                await session.execute(
                    insert(LocationSegment),
                    [
                        {
                            "monitor_id": monitor.id,
                            "location": "local",
                            "start": s.start,
                            "end": s.end,
                            "failing": s.failing,
                        }
                        for s in segments
                    ],
                )
                await session.execute(
                    insert(CheckResult),
                    [
                        {
                            "monitor_id": monitor.id,
                            "location": "local",
                            "checked_at": o.at,
                            "ok": o.ok,
                            "interval_seconds": STEP,
                            "received_at": o.at,
                        }
                        for o in observations
                        if o.at >= now - 3600
                    ],
                )
    finally:
        await engine.dispose()


def _client(base: str, path: str, seconds: float, out: Any) -> None:
    samples: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            began = time.perf_counter()
            response = client.get(path)
            samples.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text
    out.put(samples)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(base: str, path: str, seconds: float, clients: int, pid: int) -> dict[str, Any]:
    """``clients`` processes asking ``path`` back to back for ``seconds``; with the
    server's CPU per request, which the clients' share of the cores does not skew."""
    queue: Any = multiprocessing.Queue()
    cpu_before = cpu_seconds(pid)
    workers = [
        multiprocessing.Process(target=_client, args=(base, path, seconds, queue))
        for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    samples: list[float] = []
    for _ in workers:
        samples += queue.get()
    for worker in workers:
        worker.join()
    cpu = cpu_seconds(pid) - cpu_before
    return {
        "requests_per_second": round(len(samples) / seconds),
        "server_cpu_ms_per_request": round(cpu / len(samples) * 1000, 3),
        "per_core_requests_per_second": round(len(samples) / cpu) if cpu else None,
        "p50_ms": round(statistics.median(samples) * 1000, 1),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 1),
    }


def cold(base: str, path: str, count: int) -> dict[str, Any]:
    samples = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(count):
            began = time.perf_counter()
            response = client.get(path)
            samples.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text
            time.sleep(0.01)  # past the tiny max age: the next one recomputes
    # The first view after a start also pays for imports, connections and the days'
    # memo; the rest recompute an expired page (today's figures, the rest remembered).
    first, rest = samples[0], samples[1:]
    return {
        "requests": count,
        "first_ms": round(first * 1000, 1),
        "p50_ms": round(statistics.median(rest) * 1000, 1),
        "p99_ms": round(percentile(rest, 0.99) * 1000, 1),
    }


def run(kind: str, seconds: float) -> dict[str, Any]:
    now = int(time.time())
    with tempfile.TemporaryDirectory() as folder, database(kind, Path(folder)) as url:
        began = time.monotonic()
        upgrade(url)
        asyncio.run(seed(url, now))
        print(f"{kind}: seeded in {time.monotonic() - began:.1f} s", flush=True)
        env = {"UPTALLY_SCHEDULER_ENABLED": "false", "UPTALLY_STATUS_MAX_AGE_SECONDS": "0.001"}
        out: dict[str, Any] = {}
        with running_server(url, Path(folder), env=env) as server:
            # Let the start's own work finish (the month figures of every service, the
            # latest results, the roster): "first" is then a cold page, not a cold
            # process.
            time.sleep(5)
            out["cold_json"] = cold(server.url, "/api/v1/status/bench", 20)
            out["cold_html"] = cold(server.url, "/status/bench", 20)
        env["UPTALLY_STATUS_MAX_AGE_SECONDS"] = "3600"
        with running_server(url, Path(folder), env=env) as server:
            httpx.get(f"{server.url}/status/bench", timeout=60)  # warm the cache
            out["warm_html"] = load(server.url, "/status/bench", seconds, 4, server.process.pid)
            out["warm_json"] = load(
                server.url, "/api/v1/status/bench", seconds, 4, server.process.pid
            )
            for path in ("/badge/bench/svc-07/status.svg", "/badge/bench/svc-07/uptime.svg"):
                httpx.get(f"{server.url}{path}", timeout=60)
            out["badge_status"] = load(
                server.url, "/badge/bench/svc-07/status.svg", seconds, 4, server.process.pid
            )
            out["badge_uptime"] = load(
                server.url,
                "/badge/bench/svc-07/uptime.svg?period=30d",
                seconds,
                4,
                server.process.pid,
            )
        print(f"{kind}: {json.dumps(out)}", flush=True)
        return out


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Measured {report['when']} on {report['machine']}: one customer, {SERVICES} "
        f"services, {DAYS} days of 1-minute history. Expired: every request recomputes the "
        f"page (the first view, in brackets, 5 s after a start, also computes every day). "
        f"Warm: 4 client processes for {report['seconds']} s on the same 2 cores as "
        "the server; 'per core' divides the requests by the server's own CPU time.",
        "",
        "| database | request | p50 | p99 | requests/s | per core /s | server CPU per request |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    names = {
        "cold_json": "expired JSON (recomputed)",
        "cold_html": "expired HTML (recomputed)",
        "warm_html": "warm HTML page",
        "warm_json": "warm JSON",
        "badge_status": "status badge",
        "badge_uptime": "uptime badge (30d)",
    }
    for kind, r in report["databases"].items():
        for key, name in names.items():
            m = r[key]
            rate = m.get("requests_per_second", "")
            per_core = m.get("per_core_requests_per_second", "")
            cpu = m.get("server_cpu_ms_per_request")
            first = f" ({m['first_ms']} ms first)" if "first_ms" in m else ""
            lines.append(
                f"| {kind} | {name}{first} | {m['p50_ms']} ms | {m['p99_ms']} ms "
                f"| {rate} | {per_core} | {'' if cpu is None else f'{cpu} ms'} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "seconds": args.seconds,
        "databases": {kind: run(kind, args.seconds) for kind in args.db},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "status.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "status.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
