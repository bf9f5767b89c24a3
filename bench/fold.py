"""Folding benchmark: CPU per folded result, as production streams results in.

At R results/s and a 60 s interval there are 60 x R monitors, each checked once a
minute at its own second. Simulated time advances a second per ingested batch (what
the server's result buffer writes each second) and the folder runs every 2 s, as
``uptally serve`` does; one minute warms up (every pair gets its first segment), then
a measured stretch folds results in order, 2 % of the monitors failing (so state
changes are written). CPU counted: this process while it folds (Python, and SQLite's
own work, which runs in-process) plus, on PostgreSQL, the server backend that serves
the folder (its own pool of one connection; ingestion uses another), read from
/proc. The server's background writers (WAL, checkpoints) are not counted.

Also measured: how soon a folder stops when told to with a whole minute's backlog.

    .venv/bin/python -m bench.fold [--quick] [--db postgresql sqlite] [--rates 100 1000 5000]

Results go to bench/results/fold.json and bench/results/fold.md (quoted in README).
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

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import app.monitoring.folding as folding_module
from app.db import make_engine, make_sessionmaker
from app.models import DirtyMarks, StateChange
from app.monitoring.checks import ResultIn
from app.monitoring.folding import fold_pending, run_folder
from app.monitoring.ingest import store_results
from bench.run import seed_catalog, with_database

log = logging.getLogger("bench.fold")
RESULTS = Path(__file__).parent / "results"
INTERVAL = 60
FOLD_EVERY = 2  # seconds, the default fold_interval_seconds
TICK = os.sysconf("SC_CLK_TCK")


def batch(monitors: int, second: int, failing: bool) -> list[ResultIn]:
    """The results of simulated second ``second``: every monitor whose turn it is."""
    return [
        ResultIn(
            monitor_id=1 + m,
            location="local",
            checked_at=second,
            ok=not (failing and m % 50 == 0),
            interval_seconds=INTERVAL,
        )
        for m in range(second % INTERVAL, monitors, INTERVAL)
    ]


def backend_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a PostgreSQL backend, or 0 without one."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


RECORD = "record_changes"  # what the folder calls to reconcile state changes


class StateChangeCost:
    """CPU spent reconciling state changes (app.monitoring.state_changes, called by the
    folder once per chunk): reported apart, as the share of the total it is."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.python = self.database = 0.0
        self.original = getattr(folding_module, RECORD)

    async def __call__(self, session: AsyncSession, changed: Any) -> set[int]:
        began, server = time.process_time(), backend_cpu(self.pid)
        try:
            services: set[int] = await self.original(session, changed)
            return services
        finally:
            self.python += time.process_time() - began
            self.database += backend_cpu(self.pid) - server


async def ingest(sessions: async_sessionmaker[AsyncSession], rows: list[ResultIn]) -> None:
    async with sessions() as session, session.begin():
        await store_results(session, rows, rows[0].checked_at, {})


async def stop_with_backlog(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Start a folder over the whole backlog, stop it after a second, time the stop."""
    async with sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(DirtyMarks))
    stop = asyncio.Event()
    task = asyncio.create_task(run_folder(sessions, FOLD_EVERY, stop))
    await asyncio.sleep(1.0)
    asked = time.perf_counter()
    stop.set()
    await task
    return {"log_rows": rows, "stop_seconds": round(time.perf_counter() - asked, 3)}


async def run(url: str, rate: int, measured: int) -> dict[str, Any]:
    monitors = max(100, (rate * INTERVAL + 99) // 100 * 100)
    ingest_engine = make_engine(url)
    # The folder's own single connection: its server backend does the fold's work only.
    fold_engine: AsyncEngine = (
        make_engine(url, pool_size=1, max_overflow=0)
        if url.startswith("postgresql")
        else ingest_engine
    )
    ingesting, folding = make_sessionmaker(ingest_engine), make_sessionmaker(fold_engine)
    log.info("%d results/s: seeding %d monitors", rate, monitors)
    await seed_catalog(ingesting, monitors, months=0)
    pid = None
    if url.startswith("postgresql"):
        async with ingest_engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
        async with folding() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
    start = (int(time.time()) - 6 * 3600) // 3600 * 3600
    # Warm-up: a minute of results as one backlog (a stop is timed over it), then folded.
    for second in range(start, start + INTERVAL):
        await ingest(ingesting, batch(monitors, second, False))
    stopping = await stop_with_backlog(folding)
    await fold_pending(folding)
    log.info("%d results/s: warm; stopping with a backlog took %ss", rate, stopping["stop_seconds"])

    cpu = wall = 0.0
    server = -backend_cpu(pid)
    changes_cost = StateChangeCost(pid)
    setattr(folding_module, RECORD, changes_cost)
    folded = slowest = 0
    for second in range(start + INTERVAL, start + INTERVAL + measured, FOLD_EVERY):
        for tick in range(second, second + FOLD_EVERY):
            rows = batch(monitors, tick, True)
            folded += len(rows)
            await ingest(ingesting, rows)
        began, began_cpu = time.perf_counter(), time.process_time()
        await fold_pending(folding, stop=asyncio.Event())
        took = time.perf_counter() - began
        wall += took
        slowest = max(slowest, int(took * 1000))
        cpu += time.process_time() - began_cpu
    server += backend_cpu(pid)
    setattr(folding_module, RECORD, changes_cost.original)
    async with folding() as session:
        changes = await session.scalar(select(func.count()).select_from(StateChange))
        left = await session.scalar(select(func.count()).select_from(DirtyMarks))
    if fold_engine is not ingest_engine:
        await fold_engine.dispose()
    await ingest_engine.dispose()
    return {
        "rate": rate,
        "monitors": monitors,
        "results": folded,
        "python_ms_per_result": round(1000 * cpu / folded, 3),
        "database_ms_per_result": round(1000 * server / folded, 3),
        "cpu_ms_per_result": round(1000 * (cpu + server) / folded, 3),
        "state_changes_ms_per_result": round(
            1000 * (changes_cost.python + changes_cost.database) / folded, 3
        ),
        "fold_wall_seconds": round(wall, 2),
        "slowest_pass_ms": slowest,
        "state_changes": changes,
        "log_rows_left": left,
        "stop_with_backlog": stopping,
    }


async def main(args: argparse.Namespace) -> None:
    measured = 20 if args.quick else 60
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "measured_seconds": measured,
        "databases": {},
    }
    for kind in args.db:
        entries = []
        for rate in args.rates:
            entry = await with_database(kind, lambda url, rate=rate: run(url, rate, measured))
            log.info("%s: %s", kind, json.dumps(entry))
            entries.append(entry)
        report["databases"][kind] = entries
    RESULTS.mkdir(exist_ok=True)
    name = "fold-quick" if args.quick else "fold"
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Measured {report['when']} on {report['machine']} (a shared, busy machine): "
        f"results at a 60 s interval streaming in, in order, folded every {FOLD_EVERY} s; "
        f"{report['measured_seconds']} s of simulated time measured after a warm minute.",
        "",
        "| database | results/s | monitors | CPU ms per result (Python + database) "
        f"| of which state changes | folder busy (wall) for {report['measured_seconds']} s "
        "of results | slowest pass "
        "| state changes | stop with a minute's backlog |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, entries in report["databases"].items():
        for e in entries:
            stop = e["stop_with_backlog"]
            lines.append(
                f"| {kind} | {e['rate']:,} | {e['monitors']:,} | **{e['cpu_ms_per_result']}** "
                f"({e['python_ms_per_result']} + {e['database_ms_per_result']}) "
                f"| {e['state_changes_ms_per_result']} "
                f"| {e['fold_wall_seconds']} s "
                f"| {e['slowest_pass_ms']:,} ms | {e['state_changes']:,} "
                f"| {stop['stop_seconds']} s ({stop['log_rows']:,} log rows) |"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", nargs="+", choices=["sqlite", "postgresql"], default=["postgresql"])
    parser.add_argument("--rates", nargs="+", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="100 results/s, 20 s measured")
    args = parser.parse_args(argv)
    if args.rates is None:
        args.rates = [100] if args.quick else [100, 1_000, 5_000]
    return args


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(main(parse_args(sys.argv[1:])))
