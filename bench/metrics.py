"""``GET /metrics`` at 10,000 monitors (``python -m bench.metrics``): the time of a
scrape through the real endpoint (in-process ASGI), the database statements it runs
(target: none, and < 200 ms), and prometheus-client's generic exposition of the same
samples for comparison.

10,000 services with one HTTP monitor each (bench.run's catalog), every monitor's
latest result with all five phases, every service's current-month figures. Scrapes:
the first (every series written), steady ones (a quarter of the results new since the
last scrape, as with 60 s checks and a 15 s scrape interval) and repeated ones
(nothing new). Also: what keeping the latest results costs ingestion, per 1,000-row
batch. Results go to bench/results/metrics.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event

from app.config import Settings
from app.main import create_app
from app.monitoring.checks import PHASES, ResultIn
from bench.run import seed_catalog, with_database

log = logging.getLogger("bench.metrics")
RESULTS = Path(__file__).parent / "results"


def results(monitors: int, now: int, shift: int = 0, every: int = 1) -> list[ResultIn]:
    """The latest result of every ``every``-th monitor, ``shift`` seconds later."""
    return [
        ResultIn(
            monitor_id=m,
            location="local",
            checked_at=now + shift,
            ok=m % 50 != 0,
            interval_seconds=60,
            latency_ms=100 + m % 400,
            status_code=200 if m % 50 else 503,
            timings={phase: float(10 + i + m % 7) for i, phase in enumerate(PHASES)},
        )
        for m in range(1, monitors + 1, every)
    ]


class Generic(Collector):
    """The same probe samples as prometheus-client metric families (the baseline)."""

    def __init__(self, app: Any) -> None:
        self.runtime = app.state.runtime

    def collect(self) -> Iterator[Metric]:
        names = ["monitor_id", "monitor", "kind", "customer", "service", "location"]
        success = GaugeMetricFamily("uptally_probe_success", "", labels=names)
        duration = GaugeMetricFamily("uptally_probe_duration_seconds", "", labels=[*names, "phase"])
        status = GaugeMetricFamily("uptally_probe_http_status_code", "", labels=names)
        entries = self.runtime.roster.entries()
        for (monitor_id, location), latest in self.runtime.latest.snapshot().items():
            e = entries[monitor_id]
            values = [str(e.id), e.name, e.kind, e.customer, e.service, location]
            success.add_metric(values, float(latest.ok))
            for phase, ms in (latest.timings or {}).items():
                duration.add_metric([*values, phase], ms / 1000)
            status.add_metric(values, latest.status_code or 0)
        yield from (success, duration, status)


CPU: list[float] = []  # CPU seconds of each scrape (this process, all its threads)


async def scrape(client: httpx.AsyncClient) -> tuple[float, bytes]:
    started, cpu = time.perf_counter(), time.process_time()
    response = await client.get("/metrics")
    elapsed = time.perf_counter() - started
    CPU.append(time.process_time() - cpu)
    assert response.status_code == 200
    return elapsed, response.content


async def measure(url: str, monitors: int, rounds: int) -> dict[str, Any]:
    settings = Settings(database_url=url, scheduler_enabled=False)
    app = create_app(settings)
    runtime = app.state.runtime
    await seed_catalog(runtime.sessions, monitors, months=1)
    # No lifespan: no background loop runs, so every statement counted is the scrape's.
    async with runtime.sessions() as session:
        await runtime.roster.load(session, time.time())
    await runtime.figures.refresh()
    now = int(time.time())
    batches = []
    rows = results(monitors, now)
    for start in range(0, len(rows), 1000):
        began = time.perf_counter()
        runtime.stored("api", rows[start : start + 1000], 0.0)
        batches.append(time.perf_counter() - began)

    statements: list[str] = []
    event.listen(
        runtime.engine.sync_engine,
        "before_cursor_execute",
        lambda *args: statements.append(str(args[2])),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        first, body = await scrape(client)
        steady, repeated, steady_cpu = [], [], []
        for round_ in range(rounds):
            # A quarter of the monitors checked again since the last scrape.
            runtime.stored("api", results(monitors, now, 60 * (round_ + 1), every=4), 0.0)
            steady.append((await scrape(client))[0])
            steady_cpu.append(CPU[-1])
            repeated.append((await scrape(client))[0])
    await runtime.engine.dispose()

    registry = CollectorRegistry()
    registry.register(Generic(app))
    generic = []
    for _ in range(3):
        began = time.perf_counter()
        generic_body = generate_latest(registry)
        generic.append(time.perf_counter() - began)
    text = body.decode()
    return {
        "monitors": monitors,
        "services": len(runtime.figures.items()),
        "samples": sum(1 for line in text.splitlines() if line and not line.startswith("#")),
        "bytes": len(body),
        "statements_during_scrapes": len(statements),
        "first_scrape_s": round(first, 4),
        "steady_scrape_s": {
            "min": round(min(steady), 4),
            "median": round(statistics.median(steady), 4),
        },
        "steady_scrape_cpu_s": round(statistics.median(steady_cpu), 4),
        "repeated_scrape_s": {
            "min": round(min(repeated), 4),
            "median": round(statistics.median(repeated), 4),
        },
        "generic_probe_families_s": round(min(generic), 4),
        "generic_probe_families_bytes": len(generic_body),
        "observe_per_1000_rows_ms": round(statistics.median(batches) * 1000, 3),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# /metrics at 10,000 monitors",
        "",
        f"Measured {report['measured_at']} on {report['machine']}.",
        "",
        "| database | monitors / services | samples | size | DB statements | first scrape | "
        "steady (min / median; CPU) | nothing new (min / median) | prometheus-client, probe "
        "families only | keeping latest results, per 1,000-row batch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, r in report["databases"].items():
        steady, repeated = r["steady_scrape_s"], r["repeated_scrape_s"]
        lines.append(
            f"| {kind} | {r['monitors']:,} / {r['services']:,} | {r['samples']:,} | "
            f"{r['bytes'] / 1e6:.1f} MB | {r['statements_during_scrapes']} | "
            f"{r['first_scrape_s'] * 1000:.0f} ms | "
            f"{steady['min'] * 1000:.0f} / {steady['median'] * 1000:.0f} ms; "
            f"{r['steady_scrape_cpu_s'] * 1000:.0f} ms | "
            f"{repeated['min'] * 1000:.0f} / {repeated['median'] * 1000:.0f} ms | "
            f"{r['generic_probe_families_s'] * 1000:.0f} ms | "
            f"{r['observe_per_1000_rows_ms']:.2f} ms |"
        )
    return "\n".join(lines) + "\n"


async def main(args: argparse.Namespace) -> None:
    report: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "databases": {},
    }
    for kind in args.db:
        CPU.clear()
        log.info("%s: %d monitors", kind, args.monitors)
        report["databases"][kind] = await with_database(
            kind, lambda url: measure(url, args.monitors, args.rounds)
        )
        log.info("%s", report["databases"][kind])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "metrics.md").write_text(markdown(report))
    print(markdown(report))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(main(parse_args(sys.argv[1:])))
