"""Configuration as code at scale: ``uptally apply`` and ``uptally export`` of a
generated catalog (by default 100 customers, 2 services each, 50 HTTP monitors per
service: 10,000 monitors, 10,301 objects, about 41,600 lines of YAML), each run as the
real command in its own process (start-up included), on SQLite and PostgreSQL:

- apply to an empty database (everything created, in one transaction);
- apply the same file again (the plan finds nothing to change);
- export (every object, read, validated and written as YAML);
- apply with one monitor per service changed (200 updates).

Each step's wall-clock time and its CPU time (user + system of the command's process;
the database server's own work is not in it): on a shared machine the wall clock
counts waiting for a core too.

    .venv/bin/python -m bench.catalog_io [--db sqlite postgresql] [--customers 100]

Results go to bench/results/catalog_io.json and catalog_io.md (quoted in README).
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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from app.migrate import upgrade
from bench.reads import _admin
from bench.run import PG_SERVER

RESULTS = Path(__file__).parent / "results"
UPTALLY = Path(sys.executable).parent / "uptally"


def catalog(customers: int, services: int, monitors: int, interval: int = 60) -> str:
    lines = [
        "policies:",
        "  - name: Standard",
        "    target_percent: 99.9",
        "    credit_tiers:",
        "      - {from_percent: 0, to_percent: 99.9, credit_percent: 10}",
        "customers:",
    ]
    for c in range(customers):
        lines += [f"  - slug: c{c}", f"    name: Customer {c}", "    timezone: Europe/Berlin"]
        lines.append("    services:")
        for s in range(services):
            lines += [
                f"      - slug: s{s}",
                f"        name: Service {s}",
                "        policy: Standard",
                "        monthly_fee: 10.00",
                "        starts_at: 2025-01-01T00:00:00Z",
                "        monitors:",
            ]
            for m in range(monitors):
                lines += [
                    f"          - name: m{m}",
                    "            kind: http",
                    f"            target: https://c{c}-s{s}.example/{m}",
                    "            keyword: ok",
                    f"            interval_seconds: {interval if m == 0 else 60}",
                ]
    return "\n".join(lines) + "\n"


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{folder}/catalog.db"
        upgrade(url)
        yield url
        return
    name = f"uptally_catalog_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(url: str, *args: str | Path) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds of one ``uptally`` run (the CPU time is the
    command's own: on a busy machine the wall clock also counts waiting for a core)."""
    env = {**os.environ, "UPTALLY_DATABASE_URL": url}
    cpu, started = _cpu(), time.perf_counter()
    done = subprocess.run(
        [str(UPTALLY), *map(str, args)], env=env, capture_output=True, text=True, check=False
    )
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"uptally {' '.join(map(str, args))} failed: {done.stderr}")
    said = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.startswith(("Applied:", "No changes", "wrote"))
    ]
    return seconds, cpu, said[0].split(" (")[0] if said else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--services", type=int, default=2)
    parser.add_argument("--monitors", type=int, default=50)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = folder / "catalog.yaml"
        first.write_text(catalog(args.customers, args.services, args.monitors))
        changed = folder / "changed.yaml"
        changed.write_text(catalog(args.customers, args.services, args.monitors, interval=30))
        lines = len(first.read_text().splitlines())
        for kind in args.db:
            with database(kind, folder) as url:
                for step, argv in (
                    ("apply to an empty database", ("apply", "-f", first)),
                    ("apply again (no changes)", ("apply", "-f", first)),
                    ("export", ("export", "-o", folder / "exported.yaml")),
                    ("apply with 200 monitors changed", ("apply", "-f", changed)),
                ):
                    seconds, cpu, said = timed(url, *argv)
                    rows.append(
                        {
                            "database": kind,
                            "step": step,
                            "seconds": seconds,
                            "cpu": cpu,
                            "said": said,
                        }
                    )
                    print(f"{kind:10} {step:34} {seconds:6.2f} s {cpu:6.2f} CPU s  {said}")
    objects = 1 + args.customers * (1 + args.services * (1 + args.monitors))
    meta = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "load_average": os.getloadavg(),
        "objects": objects,
        "monitors": args.customers * args.services * args.monitors,
        "yaml_lines": lines,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "catalog_io.json").write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    table = [
        f"Measured {meta['measured_at']} on {meta['machine']} (load average at the end "
        f"{', '.join(f'{x:.1f}' for x in meta['load_average'])}): {objects:,} objects "
        f"({meta['monitors']:,} HTTP monitors), {lines:,} lines of YAML; each step is the "
        "real `uptally` command in its own process, start-up included.",
        "",
        "| database | step | seconds | what it said |",
        "| --- | --- | --- | --- |",
        *(f"| {r['database']} | {r['step']} | {r['seconds']:.2f} | {r['said']} |" for r in rows),
    ]
    (RESULTS / "catalog_io.md").write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
