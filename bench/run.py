"""SLA engine benchmarks, on SQLite and PostgreSQL (``make bench``).

(a) credits: every service's figures for one month from stored state (10,000
    services, one monitor each, a few segments a month over 12 months of history,
    since segments are kept for good): the pure function path and the
    ``GET /api/v1/credits`` endpoint; target < 1 s.
(b) ingestion: rows/s through ``POST /api/v1/results`` and through the ingest
    function, against a plain batched INSERT of the same rows in the same run;
    target >= 80 % of that ceiling.

Results go to bench/results/sla.json and bench/results/sla.md (quoted in README).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, insert, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.main import create_app
from app.migrate import upgrade
from app.models import (
    CheckResult,
    Customer,
    DirtyMarks,
    LocationSegment,
    Monitor,
    Service,
)
from app.monitoring.checks import ResultIn
from app.monitoring.ingest import MonitorDirectory, ingest
from app.reporting.load import load_services
from app.reporting.statements import month_figures_for
from app.sample import standard_policy
from app.sla.periods import Month, month_period

log = logging.getLogger("bench")
RESULTS = Path(__file__).parent / "results"
MONTH = Month(2025, 6)
TOKEN = "bench-admin-token"
PG_SERVER = os.environ.get(
    "UPTALLY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def history(months: int) -> list[Month]:
    """The ``months`` months ending with MONTH, oldest first."""
    out = [MONTH]
    while len(out) < months:
        year, month = out[0].year, out[0].month
        out.insert(0, Month(year - (month == 1), 12 if month == 1 else month - 1))
    return out


async def seed_catalog(sessions: Any, services: int, months: int = 12) -> list[int]:
    """Customers of 100 services each; one monitor per service; ``months`` months of
    segments ending with MONTH (the month the credits are asked for)."""
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        policy = standard_policy(now, "bench")
        session.add(policy)
        await session.flush()
        customers = [
            {"slug": f"c{i}", "name": f"Customer {i}", "timezone": "UTC", "created_at": now}
            for i in range(services // 100)
        ]
        await session.execute(insert(Customer), customers)
        await session.execute(
            insert(Service),
            [
                {
                    "customer_id": 1 + i // 100,
                    "policy_id": policy.id,
                    "name": f"s{i}",
                    "slug": f"s{i}",
                    "monthly_fee": Decimal("100.00"),
                    "currency": "USD",
                    "starts_at": datetime(2020, 1, 1, tzinfo=UTC),
                    "ends_at": None,
                    "created_at": now,
                }
                for i in range(services)
            ],
        )
        await session.execute(
            insert(Monitor),
            [
                {
                    "service_id": 1 + i,
                    "name": "m",
                    "kind": "http",
                    "target": f"https://s{i}.example/",
                    "interval_seconds": 60,
                    "timeout_seconds": 10,
                    "locations": ["local"],
                    "quorum": 1,
                    "failure_confirmations": 1,
                    "options": {},
                    "enabled": True,
                    "heartbeat_token": None,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(services)
            ],
        )
        # Every service, every month: up but for two outages (one short, one of 10 to
        # 60 minutes), as a month of a real monitor folds to.
        for month in history(months):
            start, end = month_period(month, "UTC")
            segments = []
            for i in range(services):
                a = start + (i * 7919) % (25 * 86400)
                b = a + 600 + (i % 51) * 60
                bounds = [
                    (start, a, False),
                    (a, a + 30, True),
                    (a + 30, b, False),
                    (b, b + 600 + (i % 6) * 600, True),
                    (b + 600 + (i % 6) * 600, end, False),
                ]
                segments += [
                    {"monitor_id": 1 + i, "location": "local", "start": s, "end": e, "failing": f}
                    for s, e, f in bounds
                ]
            for chunk in range(0, len(segments), 10_000):
                await session.execute(insert(LocationSegment), segments[chunk : chunk + 10_000])
    return list(range(1, services + 1))


def median_time(samples: list[float]) -> float:
    return statistics.median(samples)


async def bench_credits(url: str, services: int, repeat: int, months: int = 12) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    log.info("seeding %d services with %d months of segments", services, months)
    await seed_catalog(sessions, services, months)
    if url.startswith("postgresql"):
        async with engine.connect() as conn:  # fresh statistics, as autovacuum would give
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    function_times = []
    for _ in range(repeat):
        started = time.perf_counter()
        async with sessions() as session:
            rows = await load_services(session)
            figures = await month_figures_for(session, rows, MONTH, datetime.now(UTC))
        function_times.append(time.perf_counter() - started)
    breached = sum(1 for f in figures if f.figures.breached)
    await engine.dispose()

    app = create_app(Settings(database_url=url, admin_token=TOKEN, scheduler_enabled=False))
    endpoint_times = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(repeat):
                started = time.perf_counter()
                response = await client.get(
                    "/api/v1/credits?month=2025-06",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=120,
                )
                endpoint_times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                assert len(response.json()["items"]) == services
    return {
        "services": services,
        "history_months": months,
        "breached": breached,
        # Fastest of the runs: this 2-core VM swings +-30 % between identical runs;
        # the median is kept beside it.
        "function_seconds": round(min(function_times), 3),
        "endpoint_seconds": round(min(endpoint_times), 3),
        "function_seconds_median": round(median_time(function_times), 3),
        "endpoint_seconds_median": round(median_time(endpoint_times), 3),
        "target_seconds": 1.0,
    }


def result_rows(count: int, monitors: int) -> list[ResultIn]:
    """`count` results spread over `monitors` monitors, one minute apart, some failing."""
    base = month_period(MONTH, "UTC")[0]
    return [
        ResultIn(
            monitor_id=1 + i % monitors,
            location="local",
            checked_at=base + (i // monitors) * 60,
            ok=i % 97 != 0,
            interval_seconds=60,
            latency_ms=20 + i % 50,
            status_code=200,
        )
        for i in range(count)
    ]


async def bench_ingest(
    url: str, rows: int, batch: int, monitors: int, rounds: int = 5
) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    data = result_rows(rows, monitors)
    batches = [data[i : i + batch] for i in range(0, len(data), batch)]
    now = int(time.time())

    async def reset() -> None:
        async with sessions() as session, session.begin():
            await session.execute(delete(CheckResult))
            await session.execute(delete(DirtyMarks))

    async def plain_insert() -> None:
        for chunk in batches:
            async with sessions() as session, session.begin():
                await session.execute(
                    insert(CheckResult.__table__),
                    [
                        {
                            "monitor_id": r.monitor_id,
                            "location": r.location,
                            "checked_at": r.checked_at,
                            "ok": r.ok,
                            "interval_seconds": r.interval_seconds,
                            "latency_ms": r.latency_ms,
                            "status_code": r.status_code,
                            "error": r.error,
                            "received_at": now,
                        }
                        for r in chunk
                    ],
                )

    directory = MonitorDirectory()

    async def ingest_function() -> None:
        for chunk in batches:
            async with sessions() as session, session.begin():
                await ingest(session, chunk, now, directory)

    app = create_app(
        Settings(
            database_url=url, admin_token=TOKEN, scheduler_enabled=False, fold_interval_seconds=3600
        )
    )
    bodies = [
        json.dumps(
            {
                "results": [
                    {
                        "monitor_id": r.monitor_id,
                        "location": r.location,
                        "checked_at": datetime.fromtimestamp(r.checked_at, UTC).isoformat(),
                        "ok": r.ok,
                        "interval_seconds": r.interval_seconds,
                        "latency_ms": r.latency_ms,
                        "status_code": r.status_code,
                    }
                    for r in chunk
                ]
            }
        ).encode()
        for chunk in batches
    ]

    async def through_api() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for body in bodies:
                    response = await client.post(
                        "/api/v1/results",
                        content=body,
                        headers={
                            "Authorization": f"Bearer {TOKEN}",
                            "Content-Type": "application/json",
                        },
                    )
                    assert response.status_code == 202, response.text

    timings: dict[str, list[float]] = {"plain_insert": [], "ingest_function": [], "api": []}
    for round_ in range(rounds):  # interleaved rounds, so drift hits all three alike
        for name, run in (
            ("plain_insert", plain_insert),
            ("ingest_function", ingest_function),
            ("api", through_api),
        ):
            await reset()
            started = time.perf_counter()
            await run()
            timings[name].append(time.perf_counter() - started)
            log.info("round %d %-16s %8.0f rows/s", round_ + 1, name, rows / timings[name][-1])
    await engine.dispose()
    # Best of the rounds for each: this 2-core VM swings +-20 % between identical runs.
    rate = {name: rows / min(times) for name, times in timings.items()}
    return {
        "rows": rows,
        "batch": batch,
        "rows_per_second": {name: round(value) for name, value in rate.items()},
        "ratio_to_plain_insert": {
            name: round(rate[name] / rate["plain_insert"], 3) for name in ("ingest_function", "api")
        },
        "target_ratio": 0.8,
    }


async def with_database(kind: str, work: Any) -> Any:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            await asyncio.to_thread(upgrade, url)
            return await work(url)
    name = f"uptally_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        return await work(url)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def main(args: argparse.Namespace) -> None:
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "databases": {},
    }
    for kind in args.db:
        credits: dict[str, Any] | None = None
        if not args.skip_credits:
            log.info("== %s: credits", kind)
            credits = await with_database(
                kind,
                lambda url: bench_credits(url, args.services, args.repeat, args.history_months),
            )
        ingestion: dict[str, Any] | None = None
        if not args.skip_ingestion:
            log.info("== %s: ingestion", kind)
            ingestion = await with_database(kind, lambda url: bench_ingest_with_catalog(url, args))
        report["databases"][kind] = {"credits": credits, "ingestion": ingestion}
        log.info("%s: %s", kind, json.dumps(report["databases"][kind]))
    RESULTS.mkdir(exist_ok=True)
    name = "sla-ingestion" if args.skip_credits else "sla-credits" if args.skip_ingestion else "sla"
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


async def bench_ingest_with_catalog(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    await seed_catalog(make_sessionmaker(engine), args.monitors, months=1)
    await engine.dispose()
    return await bench_ingest(url, args.rows, args.batch, args.monitors, args.rounds)


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Measured {report['when']} on {report['machine']}.",
        "",
        "| database | credits, 10k services, 12 months stored: function (median) "
        "| credits: endpoint (median) "
        "| plain INSERT rows/s | ingest function rows/s (ratio) | API rows/s (ratio) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind, result in report["databases"].items():
        c, i = result["credits"], result["ingestion"]
        credit_cells = (
            f"{c['function_seconds']} s ({c['function_seconds_median']} s) "
            f"| {c['endpoint_seconds']} s ({c['endpoint_seconds_median']} s)"
            if c
            else "- | -"
        )
        ingest_cells = "- | - | -"
        if i:
            r, q = i["rows_per_second"], i["ratio_to_plain_insert"]
            ingest_cells = (
                f"{r['plain_insert']:,} | {r['ingest_function']:,} "
                f"({q['ingest_function']:.0%}) | {r['api']:,} ({q['api']:.0%})"
            )
        lines.append(f"| {kind} | {credit_cells} | {ingest_cells} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--monitors", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5, help="ingestion rounds (best kept)")
    parser.add_argument("--skip-credits", action="store_true", help="measure ingestion only")
    parser.add_argument("--skip-ingestion", action="store_true", help="measure credits only")
    parser.add_argument(
        "--history-months", type=int, default=12, help="months of stored segments (credits)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(main(parse_args(sys.argv[1:])))
