"""Real processes for the scale benchmarks (bench.scale): starting and stopping them,
their CPU and memory read from /proc, the server's /metrics read by name, and
PostgreSQL's share of the work (the backends of the bench's own database plus the
server-wide helpers: WAL writer, checkpointer, background writer, autovacuum).

Nothing here measures time or asserts anything; it only gathers figures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PG_SERVER = os.environ.get("UPTALLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (all its threads), or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return None


def children(pid: int) -> list[int]:
    """Direct children (the target's extra processes)."""
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(p) for p in found]


@dataclass
class Proc:
    """A process of the bench, in its own session so it and its children stop together."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def pids(self) -> list[int]:
        return [self.pid, *children(self.pid)]

    def cpu(self) -> float:
        return sum(c for p in self.pids() if (c := cpu_seconds(p)) is not None)

    def rss(self) -> int:
        return sum(r for p in self.pids() if (r := rss_bytes(p)) is not None)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM to the process's own group, SIGKILL after ``grace`` seconds."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode

    def tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start(
    name: str,
    argv: list[str],
    folder: Path,
    env: dict[str, str] | None = None,
    stdout: int | IO[Any] | None = None,
) -> Proc:
    log_path = folder / f"{name}.log"
    log = log_path.open("ab")
    popen = subprocess.Popen(
        argv,
        cwd=folder,
        # Processes run in a scratch folder: the repository stays importable (bench.*).
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=stdout if stdout is not None else log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    return Proc(name, popen, log_path)


def uptally(*args: str) -> list[str]:
    """The ``uptally`` command of this interpreter's environment."""
    return [sys.executable, "-m", "app.cli", *args]


def wait_ready(proc: Proc, url: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not ready at {url} after {seconds:g} s:\n{proc.tail()}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------ /metrics


def metric_lines(text: str, names: Iterable[str]) -> Iterator[tuple[str, str, float]]:
    """(name, labels, value) of the samples whose name is one of ``names`` (a plain
    scan: the probe series of 100,000 monitors are not worth parsing)."""
    wanted = tuple(names)
    for line in text.splitlines():
        if not line.startswith(wanted):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        if name in wanted:
            yield name, labels.rstrip("}"), float(value)


@dataclass
class Scrape:
    """The scheduler's counters and the lag histogram from one /metrics text."""

    checks: float = 0.0
    shed: float = 0.0
    lag_buckets: dict[float, float] = field(default_factory=dict)
    fold_backlog: float | None = None
    fold_backlog_age: float | None = None
    # uptally_event_loop_lag_seconds of every process that exports it: how long the
    # loop was held (app.telemetry.looplag), summed like the check lag.
    loop_lag_buckets: dict[float, float] = field(default_factory=dict)
    # uptally_gc_pause_seconds (servers), every generation: passes and seconds summed.
    gc_passes: float = 0.0
    gc_seconds: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Scrape:
        scrape = cls()
        names = (  # a server's scheduler, or an agent's (uptally_agent_*)
            "uptally_checks_total",
            "uptally_checks_shed_total",
            "uptally_schedule_lag_seconds_bucket",
            "uptally_agent_checks_total",
            "uptally_agent_shed_total",
            "uptally_agent_check_lag_seconds_bucket",
            "uptally_fold_backlog_batches",
            "uptally_fold_backlog_age_seconds",
            "uptally_event_loop_lag_seconds_bucket",
            "uptally_gc_pause_seconds_count",
            "uptally_gc_pause_seconds_sum",
        )
        for name, labels, value in metric_lines(text, names):
            if name in ("uptally_checks_total", "uptally_agent_checks_total"):
                scrape.checks += value
            elif name in ("uptally_checks_shed_total", "uptally_agent_shed_total"):
                scrape.shed += value
            elif name == "uptally_gc_pause_seconds_count":
                scrape.gc_passes += value
            elif name == "uptally_gc_pause_seconds_sum":
                scrape.gc_seconds += value
            elif name.endswith("_bucket"):
                bound = labels.split('le="')[1].split('"')[0]
                key = float("inf") if bound == "+Inf" else float(bound)
                into = scrape.loop_lag_buckets if "event_loop" in name else scrape.lag_buckets
                into[key] = into.get(key, 0.0) + value
            elif name == "uptally_fold_backlog_batches":
                scrape.fold_backlog = value
            else:
                scrape.fold_backlog_age = value
        return scrape

    def __add__(self, other: Scrape) -> Scrape:
        """Counters of several processes summed (a backlog gauge is global: the max)."""
        buckets, loop = dict(self.lag_buckets), dict(self.loop_lag_buckets)
        for bound, value in other.lag_buckets.items():
            buckets[bound] = buckets.get(bound, 0.0) + value
        for bound, value in other.loop_lag_buckets.items():
            loop[bound] = loop.get(bound, 0.0) + value
        gauges = [g for g in (self.fold_backlog, other.fold_backlog) if g is not None]
        ages = [g for g in (self.fold_backlog_age, other.fold_backlog_age) if g is not None]
        return Scrape(
            self.checks + other.checks,
            self.shed + other.shed,
            buckets,
            max(gauges) if gauges else None,
            max(ages) if ages else None,
            loop,
            self.gc_passes + other.gc_passes,
            self.gc_seconds + other.gc_seconds,
        )


def histogram_quantile(
    before: dict[float, float], after: dict[float, float], share: float
) -> float | None:
    """The ``share`` quantile of what was observed between two scrapes of a cumulative
    histogram, interpolated within its bucket as Prometheus does; None if nothing was."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = share * counts[-1]
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower  # beyond the last finite bucket: its bound is all we know
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def scrape(url: str, token: str | None = None, timeout: float = 30.0) -> tuple[float, Scrape]:
    """(seconds the scrape took, its figures). Timed by curl where there is one, in a
    process of its own, as a Prometheus server (Go) reads it: read with httpx in this
    busy process, a 20 MB exposition took 100-700 ms where curl took 50-135 ms (h11
    parses in Python, and shares the interpreter lock with the bench's own loop)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    curl = shutil.which("curl")
    if curl is None:
        started = time.perf_counter()
        response = httpx.get(url, headers=headers, timeout=timeout)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return elapsed, Scrape.parse(response.text)
    argv = [curl, "--silent", "--show-error", "--fail", "--max-time", str(timeout)]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    done = subprocess.run(
        [*argv, "--write-out", "\n%{time_total}", url], capture_output=True, check=False
    )
    if done.returncode != 0:
        raise httpx.HTTPError(f"{url}: curl exit {done.returncode}: {done.stderr.decode()}")
    body, _, took = done.stdout.rpartition(b"\n")
    return float(took), Scrape.parse(body.decode())


# ------------------------------------------------------------------ PostgreSQL


def pg_dsn(database: str) -> str:
    """A plain libpq-style URL (asyncpg takes it; Uptally picks its driver itself)."""
    base = PG_SERVER.replace("postgresql+asyncpg://", "postgresql://")
    return base.rsplit("/", 1)[0] + f"/{database}"


def new_database_name(prefix: str = "uptally_scale") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def pg_execute(database: str, *statements: str) -> list[Any]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(pg_dsn(database))
    try:
        return [await conn.fetch(statement) for statement in statements]
    finally:
        await conn.close()


async def create_database(name: str) -> str:
    """Create it; its SQLAlchemy URL (what UPTALLY_DATABASE_URL takes too)."""
    await pg_execute("postgres", f'CREATE DATABASE "{name}"')
    return pg_dsn(name).replace("postgresql://", "postgresql+asyncpg://", 1)


async def drop_database(name: str) -> None:
    await pg_execute("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def pg_pids(database: str) -> list[int]:
    """Backends of ``database`` and PostgreSQL's own helpers (which work for every
    database; on a shared machine they count others' writes too, a small overcharge)."""
    [rows] = await pg_execute(
        "postgres",
        "SELECT pid FROM pg_stat_activity WHERE datname = '"
        + database.replace("'", "''")
        + "' OR (datname IS NULL AND backend_type <> 'client backend')",
    )
    return [int(r["pid"]) for r in rows]


class PgCpu:
    """CPU of the bench database's PostgreSQL processes between ``start`` and ``stop``:
    deltas for processes seen at both, all of it for ones that appeared meanwhile
    (a new pooled connection started inside the window)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.before: dict[int, float] = {}

    async def start(self) -> None:
        self.before = {
            pid: c for pid in await pg_pids(self.database) if (c := cpu_seconds(pid)) is not None
        }

    async def stop(self) -> float:
        total = 0.0
        for pid in set(await pg_pids(self.database)) | set(self.before):
            now = cpu_seconds(pid)
            if now is not None:
                total += now - self.before.get(pid, 0.0)
        return total


def pg_rss(pids: list[int]) -> int:
    """Resident memory of the given PostgreSQL processes (shared buffers counted in
    each, so an upper bound)."""
    return sum(r for p in pids if (r := rss_bytes(p)) is not None)
