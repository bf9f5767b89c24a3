"""Folding benchmark: how fast stored results become segments and state changes.

Results arrive as a live stream would bring them (every monitor's next result, batch
after batch), each batch is ingested and the folder runs after it. Measured twice in
one run, on a fresh database each: with state changes recorded (what ``uptally serve``
does) and with that step switched off, so the cost of state changes is visible.
A quarter of the monitors have an outage in the middle, so there are changes to write.

    .venv/bin/python -m bench.fold [--db sqlite postgresql] [--monitors 1000] [--steps 30]

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
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import app.monitoring.folding as folding
from app.db import make_engine, make_sessionmaker
from app.models import StateChange
from app.monitoring.checks import ResultIn
from app.monitoring.folding import fold_pending
from app.monitoring.ingest import store_results
from app.sla.periods import month_period
from bench.run import MONTH, seed_catalog, with_database

log = logging.getLogger("bench.fold")
RESULTS = Path(__file__).parent / "results"


def stream(monitors: int, steps: int) -> list[list[ResultIn]]:
    """One batch per step: every monitor's result at that minute."""
    base = month_period(MONTH, "UTC")[0]
    return [
        [
            ResultIn(
                monitor_id=1 + m,
                location="local",
                checked_at=base + step * 60,
                # A quarter of the monitors are down for a third of the steps.
                ok=not (m % 4 == 0 and steps // 3 <= step < 2 * steps // 3),
                interval_seconds=60,
            )
            for m in range(monitors)
        ]
        for step in range(steps)
    ]


async def no_changes(session: AsyncSession, changed: Mapping[int, int]) -> set[int]:
    return set()


async def run(url: str, monitors: int, steps: int, record: bool) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    await seed_catalog(sessions, monitors, months=0)
    batches = stream(monitors, steps)
    now = int(datetime.now(UTC).timestamp())
    original = folding.record_changes
    if not record:
        folding.record_changes = no_changes  # type: ignore[assignment]
    try:
        fold_seconds = 0.0
        for batch in batches:
            async with sessions() as session, session.begin():
                await store_results(session, batch, now, {})
            started = time.perf_counter()
            await fold_pending(sessions)
            fold_seconds += time.perf_counter() - started
    finally:
        folding.record_changes = original
    async with sessions() as session:
        changes = await session.scalar(select(func.count()).select_from(StateChange))
    await engine.dispose()
    results = monitors * steps
    return {
        "results": results,
        "fold_seconds": round(fold_seconds, 2),
        "results_per_second": round(results / fold_seconds),
        "state_changes": changes,
    }


async def main(args: argparse.Namespace) -> None:
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "monitors": args.monitors,
        "steps": args.steps,
        "databases": {},
    }
    for kind in args.db:
        entry = {}
        for record in (True, False):
            label = "with_state_changes" if record else "without_state_changes"
            log.info("== %s: %s", kind, label)
            entry[label] = await with_database(
                kind,
                lambda url, record=record: run(url, args.monitors, args.steps, record),
            )
        report["databases"][kind] = entry
        log.info("%s: %s", kind, json.dumps(entry))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fold.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "fold.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Measured {report['when']} on {report['machine']}: {report['monitors']:,} monitors, "
        f"{report['steps']} results each, folded after every batch.",
        "",
        "| database | folded results/s with state changes | without | state changes written |",
        "| --- | --- | --- | --- |",
    ]
    for kind, entry in report["databases"].items():
        on, off = entry["with_state_changes"], entry["without_state_changes"]
        lines.append(
            f"| {kind} | {on['results_per_second']:,} | {off['results_per_second']:,} "
            f"| {on['state_changes']:,} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--monitors", type=int, default=1_000)
    parser.add_argument("--steps", type=int, default=30)
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(main(parse_args(sys.argv[1:])))
