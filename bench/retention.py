"""Raw result retention benchmark: what a stored result costs on disk, and what
pruning costs, on both databases.

A fresh database gets ``--monitors`` monitors with ``--days`` days of results, one
every ``--interval`` seconds (1 % failures with an error text, the rest with a
latency and status 200, as HTTP checks store them). Measured:

- bytes per stored result: the growth of the SQLite file (page count x page size) or
  of PostgreSQL's ``pg_total_relation_size('check_results')`` (table, primary key
  index, TOAST) per row inserted;
- pruning half of them (``prune_once``, the background pass, in its batches): rows
  per second and transactions;
- ingestion meanwhile: a writer stores a 100-row batch every 50 ms, for 5 s alone and
  then during the pass; the median and slowest write of each are reported (what
  pruning makes ingestion wait).

    .venv/bin/python -m bench.retention [--db sqlite postgresql] [--monitors 300] [--days 4]

Results go to bench/results/retention.json and bench/results/retention.md (quoted in
README, Operations).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import make_engine, make_sessionmaker
from app.models import CheckResult
from app.monitoring.checks import ResultIn
from app.monitoring.ingest import store_results
from app.monitoring.retention import DAY, prune_once
from bench.run import seed_catalog, with_database

log = logging.getLogger("bench.retention")
RESULTS = Path(__file__).parent / "results"
START = 1_700_000_000 // DAY * DAY
CHUNK = 20_000  # rows per INSERT while loading


def row(monitor_id: int, at: int, interval: int) -> dict[str, Any]:
    ok = (at // interval + monitor_id) % 100 != 0
    return {
        "monitor_id": monitor_id,
        "location": "local",
        "checked_at": at,
        "ok": ok,
        "interval_seconds": interval,
        "latency_ms": 87 + (at // interval) % 50 if ok else None,
        "status_code": 200 if ok else None,
        "error": None if ok else "connect: connection refused (after 3 attempts)",
        "warning": None,
        "received_at": START,
    }


async def size(session: AsyncSession) -> int:
    """The bytes the results take: the SQLite file, or the table with its indexes."""
    if session.get_bind().dialect.name == "sqlite":
        pages = await session.scalar(text("PRAGMA page_count"))
        page = await session.scalar(text("PRAGMA page_size"))
        return int(pages) * int(page)
    return int(await session.scalar(text("SELECT pg_total_relation_size('check_results')")))


async def load(
    sessions: async_sessionmaker[AsyncSession], monitors: int, days: int, interval: int
) -> int:
    instants = range(START, START + days * DAY, interval)
    batch: list[dict[str, Any]] = []
    stored = 0
    for at in instants:
        batch.extend(row(1 + m, at, interval) for m in range(monitors))
        if len(batch) >= CHUNK:
            async with sessions() as session, session.begin():
                await session.execute(insert(CheckResult), batch)
            stored += len(batch)
            batch = []
    if batch:
        async with sessions() as session, session.begin():
            await session.execute(insert(CheckResult), batch)
        stored += len(batch)
    return stored


async def writer(
    sessions: async_sessionmaker[AsyncSession], monitors: int, stop: asyncio.Event
) -> list[float]:
    """Store a 100-row batch every 50 ms until ``stop``; the seconds each write took."""
    took: list[float] = []
    at = START + 1_000 * DAY  # far from the loaded results
    while not stop.is_set():
        rows = [
            ResultIn(
                monitor_id=1 + (len(took) * 100 + i) % monitors,
                location="local",
                checked_at=at + len(took),
                ok=True,
                interval_seconds=60,
            )
            for i in range(100)
        ]
        started = time.perf_counter()
        async with sessions() as session, session.begin():
            await store_results(session, rows, at, {})
        took.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
    return took


async def measure(url: str, monitors: int, days: int, interval: int, batch: int) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        await seed_catalog(sessions, monitors, months=1)
        async with sessions() as session:
            before = await size(session)
        started = time.perf_counter()
        stored = await load(sessions, monitors, days, interval)
        loaded_in = time.perf_counter() - started
        async with sessions() as session:
            after = await size(session)
        log.info("%d results, %.1f bytes each", stored, (after - before) / stored)

        # Prune half: the cutoff in the middle of the loaded span.
        now = START + 90 * DAY + days * DAY // 2
        stop = asyncio.Event()
        quiet = asyncio.create_task(writer(sessions, monitors, stop))
        await asyncio.sleep(5)  # the writer alone first: its pace without pruning
        stop.set()
        alone = await quiet
        stop = asyncio.Event()
        ingest = asyncio.create_task(writer(sessions, monitors, stop))
        started = time.perf_counter()
        pruned = await prune_once(sessions, now, 90, batch)
        prune_seconds = time.perf_counter() - started
        stop.set()
        took = await ingest
        async with sessions() as session:
            left = int(await session.scalar(select(func.count()).select_from(CheckResult)) or 0)
        return {
            "results": stored,
            "load_seconds": round(loaded_in, 1),
            "bytes_per_result": round((after - before) / stored, 1),
            "pruned": pruned.rows,
            "left": left,
            "prune_seconds": round(prune_seconds, 2),
            "pruned_per_second": round(pruned.rows / prune_seconds),
            "transactions": pruned.transactions,
            "batch_rows": batch,
            "ingest_writes": len(took),
            "ingest_median_ms": round(sorted(took)[len(took) // 2] * 1000, 1),
            "ingest_max_ms": round(max(took) * 1000, 1),
            "alone_median_ms": round(sorted(alone)[len(alone) // 2] * 1000, 1),
            "alone_max_ms": round(max(alone) * 1000, 1),
        }
    finally:
        await engine.dispose()


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Measured {report['when']} on {report['machine']}: {report['monitors']:,} monitors, "
        f"{report['days']} days of results every {report['interval']} s; half of them pruned "
        f"by one pass (batches of {report['batch']:,} rows) while a writer stored 100 "
        "results every 50 ms (and, for comparison, 5 s of that writer alone before).",
        "",
        "| database | bytes per result | results | pruned | rows/s pruned | transactions "
        "| ingest write median / max: alone | during the pass |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, r in report["databases"].items():
        lines.append(
            f"| {kind} | {r['bytes_per_result']} | {r['results']:,} | {r['pruned']:,} "
            f"| {r['pruned_per_second']:,} | {r['transactions']:,} "
            f"| {r['alone_median_ms']} / {r['alone_max_ms']} ms "
            f"| {r['ingest_median_ms']} / {r['ingest_max_ms']} ms |"
        )
    return "\n".join(lines) + "\n"


async def main(args: argparse.Namespace) -> None:
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "monitors": args.monitors,
        "days": args.days,
        "interval": args.interval,
        "batch": args.batch,
        "databases": {},
    }
    for kind in args.db:
        log.info("== %s", kind)
        report["databases"][kind] = await with_database(
            kind,
            lambda url: measure(url, args.monitors, args.days, args.interval, args.batch),
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "retention.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "retention.md").write_text(markdown(report))
    sys.stdout.write(markdown(report))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--monitors", type=int, default=300)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--interval", type=int, default=120)
    parser.add_argument("--batch", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
