"""Uptally at scale, with real processes (issue 13), in one command each:

``python -m bench.scale allin --rate 500 --seconds 60`` (``--rate 250 500 1000`` sweeps):
    CPU per HTTP check, all in, for one ``uptally serve`` (its PostgreSQL's CPU
    included) against blackbox_exporter and a bare aiohttp loop at the same rate
    (bench.scale_allin). Results: bench/results/allin.md and .json.

``python -m bench.scale run --monitors 100000 --interval 60 --minutes 10``:
    the recommended deployment for that many monitors (API processes, sharded
    agents) probing a local target on PostgreSQL, recorded every 10 s, with read
    latencies while it runs and the time to create the monitors (bench.scale_run).
    Results: bench/results/scale.md and .json.

``--quick``: allin, one round of 15 s at 500/s (under 2 minutes on a quiet machine);
run, 5,000 monitors for 2 minutes (creation timed on 500), written to *-quick files.
Figures from a shared, busy machine are noisy; quote the ones taken on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", file=sys.stderr, flush=True)


def header(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "command": "python -m bench.scale " + shlex.join(argv),
        "load_average_start": round(os.getloadavg()[0], 2),
    }


def note(report: dict[str, Any]) -> None:
    """Say how busy the machine was: on 2 cores, a load above ~1 beside the bench's own
    processes means the figures carry others' noise."""
    report["load_average_end"] = round(os.getloadavg()[0], 2)
    report["note"] = (
        f"load average (1 min) {report['load_average_start']} at the start and "
        f"{report['load_average_end']} at the end"
    )


def write(name: str, report: dict[str, Any], text: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{name}.md").write_text(text)
    log(f"wrote {out / name}.md and .json")


async def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if (
        args.command == "allin"
        and args.processes != 1
        and (args.processes < 1 or args.db != "postgresql")
    ):
        raise SystemExit("--processes: 1 or more, on PostgreSQL (SQLite has one writer)")
    report = header(args, argv)
    if args.command == "allin":
        from bench.scale_allin import markdown, run_allin

        if args.quick:
            args.rate, args.seconds, args.rounds = args.rate or [500.0], 15.0, 1
        rates = args.rate or [500.0]
        rounds = args.rounds or 3
        report.update(
            {
                "database": args.db,
                "rounds": rounds,
                "seconds": args.seconds,
                "processes": args.processes,
            },
        )
        report.update(
            await run_allin(
                rates,
                args.seconds,
                rounds,
                args.interval,
                args.db,
                args.engines,
                log,
                args.processes,
            )
        )
        note(report)
        text = markdown(report)
        write(args.name or ("allin-quick" if args.quick else "allin"), report, text, args.out)
    else:
        from bench.scale_run import markdown, run_scale

        if args.quick:
            args.monitors, args.minutes = 5000, 2.0
            args.create_sample = args.create_sample or 500
            args.agents = args.agents if args.agents is not None else 1
        report.update(await run_scale(args, log))
        note(report)
        text = markdown(report)
        write(args.name or ("scale-quick" if args.quick else "scale"), report, text, args.out)
    print(text)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    allin = commands.add_parser("allin", help="CPU per check against blackbox and aiohttp")
    allin.add_argument("--rate", type=float, nargs="+", help="checks/s (several: a sweep)")
    allin.add_argument("--seconds", type=float, default=60.0, help="measured window per round")
    allin.add_argument("--rounds", type=int, help="interleaved rounds, best kept (default 3)")
    allin.add_argument(
        "--interval", type=int, default=10, help="monitor interval; monitors = rate x interval"
    )
    allin.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    allin.add_argument(
        "--processes",
        type=int,
        default=1,
        help="uptally serve processes on one database, each probing its own location's "
        "share of the rate (2: the whole 2-core box); all of them fold",
    )
    allin.add_argument(
        "--engines",
        nargs="+",
        choices=["uptally", "blackbox", "aiohttp"],
        default=["uptally", "blackbox", "aiohttp"],
    )
    run = commands.add_parser("run", help="the scale run: N monitors, the recommended deployment")
    run.add_argument("--monitors", type=int, default=100_000)
    run.add_argument("--interval", type=int, default=60)
    run.add_argument("--minutes", type=float, default=10.0)
    run.add_argument("--servers", type=int, default=2, help="uptally serve processes (API, fold)")
    run.add_argument(
        "--agents",
        type=int,
        default=None,
        help="uptally agent --shard K/N processes (0: the first server's scheduler probes)",
    )
    run.add_argument(
        "--create",
        choices=["api", "direct"],
        default="api",
        help="create the monitors through the API (timed) or straight in the DB",
    )
    run.add_argument(
        "--create-sample",
        type=int,
        metavar="M",
        help="time creating only M monitors (API and apply, on scratch databases) and "
        "write the run's catalog straight to the database",
    )
    run.add_argument("--concurrency", type=int, default=16, help="concurrent POSTs when creating")
    run.add_argument("--skip-apply", action="store_true", help="do not time `uptally apply`")
    run.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    run.add_argument(
        "--credits-every",
        type=float,
        default=30.0,
        help="seconds between two reads of every service's credits (0: none; default 30)",
    )
    for sub in (allin, run):
        sub.add_argument("--quick", action="store_true", help="a small run, under 2 minutes")
        sub.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
        sub.add_argument("--name", help="results file name (default: the command's)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
