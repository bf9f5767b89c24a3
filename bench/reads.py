"""Reads under ingestion: billing's and customers' latency while results pour in.

A real ``uptally serve`` (no scheduler) on a fresh database with 1,000 services of one
monitor each and a month of segments; one thread pushes 1,000-row batches through
``POST /api/v1/results`` at a target rate (5,000 results/s by default, as agents
reconnecting after an outage would), while another asks ``GET /api/v1/credits`` and a
service's ``GET /api/v1/services/{id}/sla`` in turn. Latencies are recorded per
endpoint (p50, p99, max) with the rate ingestion really reached. Target: reads under
1 s p99. Every loop is bounded by ``--seconds``; traffic goes to 127.0.0.1 only.

    .venv/bin/python -m bench.reads [--db sqlite postgresql] [--rate 5000] [--seconds 30]

Results go to bench/results/reads.json and bench/results/reads.md (quoted in README).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import make_engine, make_sessionmaker
from app.migrate import upgrade
from bench.run import PG_SERVER, seed_catalog
from tests.e2e_server import running_server

RESULTS = Path(__file__).parent / "results"
TOKEN = "test-admin-token"  # what tests.e2e_server gives the server
SERVICES = 1_000
BATCH = 1_000


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh, migrated and seeded database of this kind; dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{folder}/reads.db"
        _prepare(url)
        yield url
        return
    name = f"uptally_reads_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        _prepare(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(statement: str) -> None:
    engine = make_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _prepare(url: str) -> None:
    upgrade(url)

    async def seed() -> None:
        engine = make_engine(url)
        try:
            await seed_catalog(make_sessionmaker(engine), SERVICES, months=1)
        finally:
            await engine.dispose()

    asyncio.run(seed())


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def push(url: str, rate: int, seconds: float, stop: threading.Event, out: dict[str, Any]) -> None:
    """Batches of BATCH rows (every monitor at one instant), paced to ``rate``."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    base = int(time.time()) - 3_600  # an hour back, one synthetic second per batch
    interval = BATCH / rate
    sent = refused = 0
    started = time.monotonic()
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for index in range(int(seconds * rate / BATCH)):
            if stop.is_set():
                break
            at = datetime.fromtimestamp(base + index, UTC).isoformat().replace("+00:00", "Z")
            rows = [
                {
                    "monitor_id": m,
                    "location": "local",
                    "checked_at": at,
                    "ok": (m + index) % 50 != 0,
                    "interval_seconds": 60,
                }
                for m in range(1, SERVICES + 1)
            ]
            response = client.post("/api/v1/results", content=json.dumps({"results": rows}))
            if response.status_code == 202:
                sent += BATCH
            else:
                refused += 1
            delay = started + (index + 1) * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    out.update(
        rows=sent,
        refused_batches=refused,
        results_per_second=round(sent / (time.monotonic() - started)),
    )


def read(url: str, stop: threading.Event, out: dict[str, list[float]]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    paths = {
        "credits": "/api/v1/credits?month=2025-06",
        "sla": "/api/v1/services/1/sla?month=2025-06",
    }
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while not stop.is_set():
            for name, path in paths.items():
                started = time.monotonic()
                response = client.get(path)
                elapsed = time.monotonic() - started
                assert response.status_code == 200, response.text[:300]
                out.setdefault(name, []).append(elapsed)
                if name == "credits" and response.json().get("pending_results"):
                    out.setdefault("credits_pending", []).append(1.0)


def run(kind: str, rate: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, database(kind, Path(folder)) as url:
        env = {"UPTALLY_SCHEDULER_ENABLED": "false"}
        with running_server(url, Path(folder), env=env) as server:
            stop = threading.Event()
            pushed: dict[str, Any] = {}
            reads: dict[str, list[float]] = {}
            writer = threading.Thread(target=push, args=(server.url, rate, seconds, stop, pushed))
            reader = threading.Thread(target=read, args=(server.url, stop, reads))
            writer.start()
            reader.start()
            writer.join(timeout=seconds * 4)
            stop.set()
            reader.join(timeout=120)
    summary: dict[str, Any] = {"ingestion": pushed}
    for name in ("credits", "sla"):
        samples = reads.get(name, [])
        summary[name] = {
            "requests": len(samples),
            "p50_seconds": round(statistics.median(samples), 3) if samples else None,
            "p99_seconds": round(percentile(samples, 0.99), 3) if samples else None,
            "max_seconds": round(max(samples), 3) if samples else None,
        }
    summary["credits"]["pending_results_answers"] = len(reads.get("credits_pending", []))
    return summary


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Measured {report['when']} on {report['machine']}: {SERVICES:,} services, "
        f"target {report['rate']:,} results/s for {report['seconds']} s.",
        "",
        "| database | ingested results/s | credits p50 / p99 / max | SLA p50 / p99 / max "
        "| credits answered with pending results |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind, r in report["databases"].items():
        c, s = r["credits"], r["sla"]
        lines.append(
            f"| {kind} | {r['ingestion']['results_per_second']:,} "
            f"| {c['p50_seconds']} / {c['p99_seconds']} / {c['max_seconds']} s "
            f"| {s['p50_seconds']} / {s['p99_seconds']} / {s['max_seconds']} s "
            f"| {c['pending_results_answers']} of {c['requests']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--rate", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "rate": args.rate,
        "seconds": args.seconds,
        "databases": {kind: run(kind, args.rate, args.seconds) for kind in args.db},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "reads.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "reads.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main(sys.argv[1:])
