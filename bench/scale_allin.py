"""``python -m bench.scale allin``: CPU per HTTP check, all in, for one real
``uptally serve`` process (scheduler, probe, buffer, store, fold; PostgreSQL's CPU for
the bench database counted too; ``--processes N``: N of them on one database, each
probing its own location's share, their CPU summed), and in the same run, at the same
rate and against the same local target, Debian's prometheus-blackbox-exporter (its
CPU per probe) and a bare aiohttp GET loop (its CPU per request). Rounds are
interleaved (the engines take turns, in a rotating order) and the best round of each
engine is kept: on a shared 2-core machine the noise only ever adds CPU.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.migrate import upgrade
from bench.scale_procs import (
    PgCpu,
    Proc,
    Scrape,
    create_database,
    drop_database,
    free_port,
    histogram_quantile,
    new_database_name,
    pg_execute,
    scrape,
    start,
    uptally,
    wait_ready,
)
from bench.scale_seed import seed_direct

TOKEN = "bench-scale-admin-token"
ENGINES = ("uptally", "blackbox", "aiohttp")
BLACKBOX_CONFIG = """modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
"""
# One (address, port) pair of the target takes ~400 fresh connections a second before
# its closed connections' TIME_WAIT entries use up the client ports.
CONNECTIONS_PER_PORT = 300


class Target:
    """The local target (bench.target) on enough ports for ``rate``."""

    def __init__(self, folder: Path, rate: float, procs: int = 1) -> None:
        self.ports = [free_port() for _ in range(max(1, int(-(-rate // CONNECTIONS_PER_PORT))))]
        self.proc = start(
            "target",
            [sys.executable, "-m", "bench.target", *map(str, self.ports), "--procs", str(procs)],
            folder,
            stdout=subprocess.PIPE,
        )
        assert self.proc.popen.stdout is not None
        line = self.proc.popen.stdout.readline().decode().strip()
        if line != "ready":
            raise RuntimeError(f"target did not start: {line!r} {self.proc.tail()}")
        self.urls = [f"http://127.0.0.1:{port}/" for port in self.ports]


class Database:
    """A fresh, migrated database with the catalog, dropped at the end."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind, self.folder = kind, folder
        self.name = new_database_name()
        self.url = ""

    async def create(
        self, monitors: int, interval: int, targets: list[str], processes: int = 1
    ) -> None:
        if self.kind == "postgresql":
            self.url = await create_database(self.name)
        else:
            self.url = f"sqlite+aiosqlite:///{self.folder}/{self.name}.db"
        await asyncio.to_thread(upgrade, self.url)
        await seed_direct(self.url, monitors, interval, targets, locations(processes))

    async def query(self, statement: str) -> list[Any]:
        if self.kind == "postgresql":
            [rows] = await pg_execute(self.name, statement)
            return [tuple(r) for r in rows]
        with sqlite3.connect(f"{self.folder}/{self.name}.db", timeout=30) as conn:
            return conn.execute(statement).fetchall()

    async def stored(self) -> int:
        return int((await self.query("SELECT count(*) FROM check_results"))[0][0])

    async def backlog(self) -> tuple[int, int | None]:
        """Dirty marks waiting to be folded and the oldest one's age in seconds."""
        try:
            count, oldest = (await self.query("SELECT count(*), min(created_at) FROM dirty_marks"))[
                0
            ]
        except Exception:  # the folding work may replace this log: then the gauge only
            return -1, None
        return int(count), (int(time.time() - oldest) if oldest is not None else 0)

    async def drop(self) -> None:
        if self.kind == "postgresql" and self.url:
            await drop_database(self.name)


def serve_env(url: str, folder: Path, **extra: str) -> dict[str, str]:
    return {
        "UPTALLY_DATABASE_URL": url,
        "UPTALLY_ALLOW_PRIVATE_TARGETS": "true",
        "UPTALLY_ADMIN_TOKEN": TOKEN,
        "UPTALLY_SPOOL_PATH": str(folder / "spool.db"),
        **extra,
    }


def locations(processes: int) -> list[str]:
    """The locations the monitors are spread over: one per ``uptally serve`` process,
    each process probing its own (``UPTALLY_LOCATION``); all of them fold."""
    return ["local"] if processes == 1 else [f"box-{k}" for k in range(processes)]


async def uptally_round(
    db: Database,
    folder: Path,
    rate: float,
    interval: int,
    warmup: float,
    seconds: float,
    processes: int = 1,
) -> dict[str, Any]:
    ports = [free_port() for _ in range(processes)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    serves: list[Proc] = []
    try:
        for k, (port, location) in enumerate(zip(ports, locations(processes), strict=True)):
            env = serve_env(
                db.url,
                folder,
                UPTALLY_LOCATION=location,
                UPTALLY_SPOOL_PATH=str(folder / f"spool-{k}.db"),
            )
            serves.append(start(f"serve-{k}", uptally("serve", "--port", str(port)), folder, env))
        for serve, base in zip(serves, bases, strict=True):
            await asyncio.to_thread(wait_ready, serve, f"{base}/readyz")
        # First runs are spread over one interval: after it every monitor runs steadily.
        await asyncio.sleep(max(warmup, 2 * interval))
        pg = PgCpu(db.name)
        before = await scrape_each(bases)
        rows0 = await db.stored()
        if db.kind == "postgresql":
            await pg.start()
        cpu0, t0 = sum(s.cpu() for s in serves), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, t1 = sum(s.cpu() for s in serves), time.monotonic()
        pg_cpu = await pg.stop() if db.kind == "postgresql" else 0.0
        rows1 = await db.stored()
        after = await scrape_each(bases)
        marks, age = await db.backlog()
        rss = max(s.rss() for s in serves)  # the largest process's
    finally:
        for serve in serves:
            serve.stop()
    m0, m1 = sum(before[1:], before[0]), sum(after[1:], after[0])  # counters summed
    figures = uptally_figures(
        rate, interval, t1 - t0, rows1 - rows0, cpu1 - cpu0, pg_cpu, m0, m1, marks, age, rss
    )
    figures["processes"] = processes
    figures["checks_per_process"] = [
        int(a.checks - b.checks) for b, a in zip(before, after, strict=True)
    ]
    return figures


async def scrape_each(bases: list[str]) -> list[Scrape]:
    return [(await asyncio.to_thread(scrape, f"{base}/metrics"))[1] for base in bases]


def uptally_figures(
    rate: float,
    interval: int,
    elapsed: float,
    stored: int,
    serve_cpu: float,
    pg_cpu: float,
    m0: Scrape,
    m1: Scrape,
    marks: int,
    age: int | None,
    rss: int,
) -> dict[str, Any]:
    per = 1000 / stored if stored else 0.0
    p50 = histogram_quantile(m0.lag_buckets, m1.lag_buckets, 0.5)
    p99 = histogram_quantile(m0.lag_buckets, m1.lag_buckets, 0.99)
    return {
        "rate": rate,
        "monitors": int(rate * interval),
        "interval_seconds": interval,
        "seconds": round(elapsed, 2),
        "checks": int(m1.checks - m0.checks),
        "stored": stored,
        "stored_per_second": round(stored / elapsed, 1),
        "shed": int(m1.shed - m0.shed),
        "lag_p50_seconds": None if p50 is None else round(p50, 4),
        "lag_p99_seconds": None if p99 is None else round(p99, 4),
        "serve_cpu_seconds": round(serve_cpu, 3),
        "postgres_cpu_seconds": round(pg_cpu, 3),
        "serve_ms_per_check": round(serve_cpu * per, 3),
        "postgres_ms_per_check": round(pg_cpu * per, 3),
        "ms_per_check": round((serve_cpu + pg_cpu) * per, 3),
        "fold_backlog_marks": marks if marks >= 0 else m1.fold_backlog,
        "fold_backlog_age_seconds": age if marks >= 0 else m1.fold_backlog_age,
        "serve_rss_mb": round(rss / 2**20, 1),
    }


class Blackbox:
    """Debian's prometheus-blackbox-exporter with an ``http_2xx`` module, on a free port."""

    def __init__(self, proc: Proc, url: str) -> None:
        self.proc, self.url = proc, url

    @classmethod
    def start(cls, folder: Path) -> Blackbox | None:
        binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
        if binary is None:
            return None
        config = folder / "blackbox.yml"
        config.write_text(BLACKBOX_CONFIG)
        address = f"127.0.0.1:{free_port()}"
        argv = [binary, f"--config.file={config}", f"--web.listen-address={address}"]
        proc = start("blackbox", [*argv, "--log.level=warn"], folder)
        wait_ready(proc, f"http://{address}/metrics", 30)
        return cls(proc, f"http://{address}")


async def driver_round(
    engine: str,
    folder: Path,
    targets: list[str],
    rate: float,
    seconds: float,
    blackbox: Blackbox | None = None,
) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.scale_drive", engine, "--targets", *targets]
    argv += ["--rate", str(rate), "--seconds", str(seconds), "--warmup", "5"]
    if blackbox is not None:
        argv += ["--exporter", blackbox.url, "--pid", str(blackbox.proc.pid)]
    proc = start(f"drive-{engine}", argv, folder, stdout=subprocess.PIPE)
    out, _ = await asyncio.to_thread(proc.popen.communicate, None, seconds + 120)
    if proc.popen.returncode != 0:
        raise RuntimeError(f"{engine} driver failed:\n{proc.tail()}")
    figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    done = figures["ok"]
    figures["per_second"] = round(done / figures["seconds"], 1)
    figures["ms_per_check"] = round(1000 * figures["cpu_seconds"] / done, 3) if done else None
    return figures


def kept_up(figures: dict[str, Any]) -> bool:
    """Done at 95 % of the rate or more, nothing failed: only then is its CPU per check
    comparable (an engine that falls behind does less, and pays for it in queues)."""
    done = figures.get("stored_per_second", figures.get("per_second", 0.0))
    return bool(done >= 0.95 * figures["rate"] and not figures.get("failed"))


def best(rounds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The round with the least CPU per check (noise only ever adds CPU), among the
    rounds that kept up if any did."""
    measured = [r for r in rounds if r.get("ms_per_check") is not None and r["ms_per_check"] > 0]
    for r in measured:
        r["kept_up"] = kept_up(r)
    pool = [r for r in measured if r["kept_up"]] or measured
    return min(pool, key=lambda r: r["ms_per_check"]) if pool else None


async def run_allin(
    rates: list[float],
    seconds: float,
    rounds: int,
    interval: int,
    db_kind: str,
    engines: list[str],
    log: Any,
    processes: int = 1,
) -> dict[str, Any]:
    report: dict[str, Any] = {"rates": {}}
    with tempfile.TemporaryDirectory(prefix="uptally-allin-") as tmp:
        folder = Path(tmp)
        target = Target(folder, max(rates), procs=2 if max(rates) > 1000 else 1)
        blackbox: Blackbox | None = None
        try:
            blackbox = Blackbox.start(folder) if "blackbox" in engines else None
            if "blackbox" in engines and blackbox is None:
                log("no blackbox exporter: apt-get install prometheus-blackbox-exporter")
            for rate in rates:
                db = Database(db_kind, folder)
                if "uptally" in engines:
                    log(f"rate {rate:g}/s: seeding {int(rate * interval):,} monitors ({db_kind})")
                    await db.create(int(rate * interval), interval, target.urls, processes)
                runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
                try:
                    for round_ in range(rounds):
                        order = engines[round_ % len(engines) :] + engines[: round_ % len(engines)]
                        for engine in order:
                            if engine == "uptally":
                                figures = await uptally_round(
                                    db, folder, rate, interval, interval + 10, seconds, processes
                                )
                            elif engine == "blackbox":
                                if blackbox is None:
                                    continue
                                figures = await driver_round(
                                    engine, folder, target.urls, rate, seconds, blackbox
                                )
                            else:
                                figures = await driver_round(
                                    engine, folder, target.urls, rate, seconds
                                )
                            log(f"  round {round_ + 1} {engine}: {json.dumps(figures)}")
                            runs[engine].append(figures)
                finally:
                    await db.drop()
                report["rates"][str(rate)] = summarize(rate, runs)
        finally:
            if blackbox is not None:
                blackbox.proc.stop()
            target.proc.stop()
    return report


def summarize(rate: float, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    chosen = {engine: best(rounds) for engine, rounds in runs.items()}
    ours = chosen.get("uptally")
    ratios: dict[str, float | None] = {}
    for other in ("blackbox", "aiohttp"):
        theirs = chosen.get(other)
        if ours and theirs and theirs["ms_per_check"]:
            ratios[f"uptally_per_{other}"] = round(ours["ms_per_check"] / theirs["ms_per_check"], 2)
    # A ratio means something only when both engines did the whole rate.
    comparable = all(b is not None and b["kept_up"] for b in chosen.values())
    return {
        "rate": rate,
        "best": chosen,
        "ratios": ratios,
        "comparable": comparable,
        "rounds": runs,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# All-in CPU per HTTP check: Uptally, blackbox_exporter, bare aiohttp",
        "",
        f"Measured {report['measured_at']} on {report['machine']}; {report['note']}",
        "",
        f"Command: `{report['command']}`. Database: {report['database']}; "
        f"{report['rounds']} interleaved round(s) of {report['seconds']:g} s each, best kept.",
        "",
        "| rate /s | engine | CPU ms per check | done /s | lag p50 / p99 | shed "
        "| serve / PostgreSQL ms | fold backlog (marks, oldest) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rate, r in report["rates"].items():
        for engine, b in r["best"].items():
            if b is None:
                lines.append(f"| {float(rate):g} | {engine} | - | - | | | | |")
                continue
            if engine == "uptally":
                lag = f"{fmt_s(b['lag_p50_seconds'])} / {fmt_s(b['lag_p99_seconds'])}"
                split = f"{b['serve_ms_per_check']} / {b['postgres_ms_per_check']}"
                backlog = f"{b['fold_backlog_marks']}, {b['fold_backlog_age_seconds']} s"
                many = b.get("processes", 1)
                serve = "uptally serve" + (f" x{many}" if many > 1 else "")
                lines.append(
                    f"| {float(rate):g} | {serve}, all in | **{b['ms_per_check']}** | "
                    f"{b['stored_per_second']} stored{behind(b)} | {lag} | {b['shed']} | "
                    f"{split} | {backlog} |"
                )
            else:
                label = "blackbox_exporter (its CPU)" if engine == "blackbox" else "aiohttp loop"
                lines.append(
                    f"| {float(rate):g} | {label} | {b['ms_per_check']} | {b['per_second']}"
                    f"{behind(b)} | | | | |"
                )
        ratios = ", ".join(f"{k.replace('_', ' ')}: **{v}**" for k, v in r["ratios"].items())
        if not r.get("comparable", True):
            ratios += " (not comparable: an engine fell behind the rate)"
        lines.append(f"| {float(rate):g} | ratios | {ratios} | | | | | |")
    return "\n".join(lines) + "\n"


def behind(figures: dict[str, Any]) -> str:
    if figures.get("kept_up", True):
        return ""
    return f" (did not keep up; {figures.get('failed', 0)} failed)"


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"
