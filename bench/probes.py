"""Probe throughput (``make bench-probes``): N HTTP monitors at interval I against a
fast local target, through the real scheduler, probe and result buffer into the
database, in P worker processes; and, in the same run, the ceiling of plain asyncio
HTTP GETs on fresh connections on the same machine.

Reports sustained checks/s, CPU per check, scheduling lag p50/p99, shed runs, the
results that reached the database, and the ratio to the ceiling. Results go to
bench/results/probes.json and .md (quoted in README).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

RESULTS = Path(__file__).parent / "results"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# ------------------------------------------------------------------ worker processes


async def probe_worker(args: argparse.Namespace) -> dict[str, Any]:
    from app.db import make_engine, make_sessionmaker
    from app.monitoring.buffer import ResultBuffer
    from app.monitoring.checks import MonitorSpec
    from app.monitoring.scheduler import CheckScheduler
    from probes.guard import AddressPolicy
    from probes.registry import ProbeContext

    engine = make_engine(args.db)
    buffer = ResultBuffer(make_sessionmaker(engine), flush_every=1.0)
    probes = ProbeContext(policy=AddressPolicy(allow_private=True))
    lags: list[float] = []
    scheduler = CheckScheduler(
        "local",
        probes,
        buffer.add,
        concurrency=args.concurrency,
        spread=args.interval,
        observe_lag=lags.append,
    )
    url = f"http://127.0.0.1:{args.port}/"
    ids = range(args.first, args.first + args.count)
    scheduler.start()
    scheduler.apply(
        {i: MonitorSpec(i, "http", url, {}, args.interval, 5, ("local",), 0) for i in ids}
    )
    stop = asyncio.Event()
    writer = asyncio.create_task(buffer.run(stop))
    await asyncio.sleep(args.warmup)
    checks0, shed0, written0, cpu0 = (
        scheduler.stats["checks"],
        scheduler.stats["shed"],
        buffer.written,
        cpu_seconds(),
    )
    lags.clear()
    started = time.perf_counter()
    await asyncio.sleep(args.duration)
    elapsed = time.perf_counter() - started
    checks = scheduler.stats["checks"] - checks0
    cpu = cpu_seconds() - cpu0
    result = {
        "checks": checks,
        "seconds": elapsed,
        "shed": scheduler.stats["shed"] - shed0,
        "written": buffer.written - written0,
        "cpu_seconds": cpu,
        "lags": lags,
        "pending_at_end": len(buffer.pending),
    }
    scheduler.shutdown()
    await scheduler.drain(timeout=10)
    stop.set()
    await writer
    await probes.aclose()
    await engine.dispose()
    return result


async def ceiling_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Plain asyncio GETs, a fresh connection each, `concurrency` at a time."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    done = 0
    deadline = time.perf_counter() + args.duration

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
            writer.write(request)
            await reader.read()
            writer.close()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(args.concurrency)))
    return {"checks": done, "seconds": time.perf_counter() - started}


# ------------------------------------------------------------------ coordinator


def spawn(role: str, extra: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.probes", "--role", role, *extra],
        stdout=subprocess.PIPE,
        text=True,
    )


def collect(processes: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    out = []
    for process in processes:
        stdout, _ = process.communicate(timeout=600)
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


async def seed(db: str, monitors: int) -> None:
    from app.db import make_engine, make_sessionmaker
    from app.migrate import upgrade
    from bench.run import seed_catalog

    await asyncio.to_thread(upgrade, db)
    engine = make_engine(db)
    await seed_catalog(make_sessionmaker(engine), monitors)
    await engine.dispose()


async def stored_results(db: str) -> int:
    from app.db import make_engine, make_sessionmaker
    from app.models import CheckResult

    engine = make_engine(db)
    async with make_sessionmaker(engine)() as session:
        count: int = await session.scalar(select(func.count()).select_from(CheckResult)) or 0
    await engine.dispose()
    return count


def run_case(
    args: argparse.Namespace, db: str, port: int, monitors: int, processes: int
) -> dict[str, Any]:
    per = monitors // processes
    workers = [
        spawn(
            "probe",
            [
                "--db",
                db,
                "--port",
                str(port),
                "--first",
                str(1 + i * per),
                "--count",
                str(per),
                "--interval",
                str(args.interval),
                "--warmup",
                str(args.warmup),
                "--duration",
                str(args.duration),
                "--concurrency",
                str(args.concurrency),
            ],
        )
        for i in range(processes)
    ]
    parts = collect(workers)
    checks = sum(p["checks"] for p in parts)
    seconds = max(p["seconds"] for p in parts)
    lags = [lag for p in parts for lag in p["lags"]]
    return {
        "processes": processes,
        "monitors": per * processes,
        "interval_seconds": args.interval,
        "scheduled_rate": round(per * processes / args.interval, 1),
        "checks_per_second": round(checks / seconds, 1),
        "cpu_ms_per_check": round(1000 * sum(p["cpu_seconds"] for p in parts) / max(checks, 1), 3),
        "lag_p50_ms": round(1000 * percentile(lags, 0.5), 1),
        "lag_p99_ms": round(1000 * percentile(lags, 0.99), 1),
        "shed": sum(p["shed"] for p in parts),
        "written_to_database": sum(p["written"] for p in parts),
    }


def main(args: argparse.Namespace) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = subprocess.Popen(
        [sys.executable, "-m", "bench.target", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert target.stdout is not None and target.stdout.readline().strip() == "ready"
    folder = tempfile.mkdtemp()
    db = args.db or f"sqlite+aiosqlite:///{folder}/probes.db"
    try:
        cases_wanted = [tuple(int(x) for x in case.split("x")) for case in args.cases]
        asyncio.run(seed(db, max(monitors for monitors, _ in cases_wanted)))
        ceiling = collect(
            [
                spawn("ceiling", ["--port", str(port), "--duration", "10", "--concurrency", "50"])
                for _ in range(2)
            ]
        )
        ceiling_rate = sum(c["checks"] for c in ceiling) / max(c["seconds"] for c in ceiling)
        cases = []
        for monitors, processes in cases_wanted:
            print(
                f"running {monitors} monitors at {args.interval} s in {processes} process(es)",
                file=sys.stderr,
                flush=True,
            )
            case = run_case(args, db, port, monitors, processes)
            case["ratio_to_ceiling"] = round(case["checks_per_second"] / ceiling_rate, 3)
            cases.append(case)
            print(json.dumps(case), file=sys.stderr, flush=True)
        report = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}",
            "database": db.split(":")[0],
            "ceiling_plain_asyncio_checks_per_second": round(ceiling_rate, 1),
            "cases": cases,
            "results_in_database": asyncio.run(stored_results(db)),
        }
    finally:
        target.terminate()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "probes.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "probes.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Measured {report['when']} on {report['machine']}, results into "
        f"{report['database']}. Ceiling (plain asyncio GET, fresh connection, 2 processes): "
        f"{report['ceiling_plain_asyncio_checks_per_second']:,} checks/s.",
        "",
        "| processes | monitors @ interval | scheduled/s | checks/s | ratio to ceiling "
        "| CPU ms/check | lag p50 | lag p99 | shed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in report["cases"]:
        lines.append(
            f"| {c['processes']} | {c['monitors']:,} @ {c['interval_seconds']} s "
            f"| {c['scheduled_rate']} | {c['checks_per_second']} | {c['ratio_to_ceiling']:.0%} "
            f"| {c['cpu_ms_per_check']} | {c['lag_p50_ms']} ms | {c['lag_p99_ms']} ms "
            f"| {c['shed']} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["main", "probe", "ceiling"], default="main")
    parser.add_argument("--db", default=None, help="database URL (default: a temp SQLite)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["5000x1", "5000x2", "10000x2", "15000x2"],
        help="MONITORSxPROCESSES; the last ones overload the machine on purpose",
    )
    parser.add_argument("--warmup", type=float, default=12)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--count", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    if arguments.role == "probe":
        print(json.dumps(asyncio.run(probe_worker(arguments))))
    elif arguments.role == "ceiling":
        print(json.dumps(asyncio.run(ceiling_worker(arguments))))
    else:
        main(arguments)
