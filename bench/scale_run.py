"""``python -m bench.scale run``: N HTTP monitors at one interval against the local
target, on a fresh PostgreSQL database, with the deployment proposed for that size:

- ``--servers S`` ``uptally serve`` processes on one database: each takes agents'
  result batches and API reads, and each folds (the fold is shared through the
  database); none runs a scheduler when agents probe;
- ``--agents A`` ``uptally agent --location bench --shard K/A`` processes (default:
  one per 1,000 checks/s), each posting to server K mod S, with an agent-scoped key;
  ``--agents 0``: the first server's own scheduler probes everything instead.

First the monitors are created (timed: paged, concurrent POSTs through the API, and
``uptally apply -f catalog.yaml`` on a second fresh database), then the load runs
for ``--minutes``, sampled every ``--sample`` seconds: results stored per second,
lag p50/p99 and shed (from every process that exports them), RSS and CPU per
process, the fold backlog (marks and the oldest's age); meanwhile readers time
``GET /api/v1/services/{id}/sla``, ``GET /api/v1/credits`` and ``GET /metrics``. At the
end: how long the fold backlog takes to drain once the load stops, and the bytes
per stored result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from app.migrate import upgrade
from bench.scale_allin import TOKEN, Database, Target, serve_env
from bench.scale_procs import (
    Proc,
    Scrape,
    cpu_seconds,
    create_database,
    drop_database,
    free_port,
    histogram_quantile,
    new_database_name,
    pg_execute,
    pg_pids,
    pg_rss,
    scrape,
    start,
    uptally,
    wait_ready,
)
from bench.scale_seed import create_via_api, seed_direct, time_apply, write_catalog

AGENT_LOCATION = "bench"
CHECKS_PER_AGENT = 1000  # checks/s one agent process is planned for (issue 13's goal)
TARGETS = {"lag_p99_seconds": 1.0, "sla_p99_ms": 200, "metrics_max_ms": 500, "backlog_age": 30}


def pct(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


class Readers:
    """Read load while the run goes on: a service's SLA five times a second, the
    credits of every service every ``credits_every`` seconds (``--credits-every``),
    each timed.

    A billing system asks for credits a few times a month; asked back to back (as this
    bench first did) credits for every service kept a server's loop busy most of the
    time, which measured the bench's own load rather than the SLA endpoint's."""

    def __init__(self, bases: list[str], services: int, credits_every: float) -> None:
        self.bases, self.services, self.credits_every = bases, services, credits_every
        # Latencies by kind since the last take, looked up when a read ends: a credits
        # read at 40,000 services outlasts a sample, and one bound to the list its
        # sample began with was dropped at the next take (none ever counted).
        self.window = self.empty_window()
        self.sla_steady: list[float] = []  # every SLA read once the run is steady
        self.steady = False
        self.errors: list[str] = []
        self.stop = asyncio.Event()
        self.month = datetime.now(UTC).strftime("%Y-%m")

    @staticmethod
    def empty_window() -> dict[str, list[float]]:
        return {"sla": [], "credits": []}

    async def timed(self, client: httpx.AsyncClient, url: str, kind: str, timeout: float) -> None:
        started = time.perf_counter()
        try:
            response = await client.get(url, timeout=timeout)
        except httpx.HTTPError as exc:
            self.errors.append(f"{url}: {type(exc).__name__}")
            return
        if response.status_code != 200:
            self.errors.append(f"{url}: {response.status_code}")
            return
        self.window[kind].append(time.perf_counter() - started)

    async def sla_loop(self, client: httpx.AsyncClient) -> None:
        i = 0
        while not self.stop.is_set():
            base = self.bases[i % len(self.bases)]
            service = random.randint(1, self.services)
            url = f"{base}/api/v1/services/{service}/sla?month={self.month}"
            await self.timed(client, url, "sla", 30)
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 0.2)

    async def credits_loop(self, client: httpx.AsyncClient) -> None:
        i = 0
        while not self.stop.is_set():
            base = self.bases[i % len(self.bases)]
            await self.timed(client, f"{base}/api/v1/credits?month={self.month}", "credits", 120)
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.credits_every)

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(headers=headers) as client:
            loops = [self.sla_loop(client)]
            if self.credits_every > 0:
                loops.append(self.credits_loop(client))
            await asyncio.gather(*loops)

    def take(self) -> dict[str, Any]:
        """Latencies since the last take (p50/p99 in ms), then forget them."""
        window, self.window = self.window, self.empty_window()
        sla, credits = window["sla"], window["credits"]
        if self.steady:
            self.sla_steady += sla
        return {
            "sla_n": len(sla),
            "sla_p50_ms": ms(pct(sla, 0.5)),
            "sla_p99_ms": ms(pct(sla, 0.99)),
            "credits_n": len(credits),
            "credits_p50_ms": ms(pct(credits, 0.5)),
            "credits_max_ms": ms(max(credits) if credits else None),
        }


def agent_has_metrics() -> bool:
    """Whether this version's agent can export its scheduler's metrics (then they are
    scraped like the servers')."""
    done = subprocess.run(uptally("agent", "--help"), capture_output=True, text=True)
    return "--metrics-listen" in done.stdout


def agent_key(database_url: str) -> str:
    done = subprocess.run(
        uptally(
            "keys",
            "create",
            "--scope",
            "agent",
            "--location",
            AGENT_LOCATION,
            "--name",
            "scale-bench",
        ),
        capture_output=True,
        text=True,
        env={**os.environ, "UPTALLY_DATABASE_URL": database_url},
        check=True,
    )
    return done.stdout.strip().splitlines()[0]


async def time_creation(
    args: argparse.Namespace,
    db: Database,
    folder: Path,
    targets: list[str],
    location: str,
    monitors: int,
    log: Any,
) -> dict[str, Any]:
    """``monitors`` monitors (with their customers and services) through the API of a
    server that runs no scheduler, so only the creation is timed."""
    port = free_port()
    env = serve_env(db.url, folder, UPTALLY_SCHEDULER_ENABLED="false")
    server = start("create-server", uptally("serve", "--port", str(port)), folder, env)
    try:
        await asyncio.to_thread(wait_ready, server, f"http://127.0.0.1:{port}/readyz")
        log(f"creating {monitors:,} monitors through the API")
        return await create_via_api(
            f"http://127.0.0.1:{port}",
            TOKEN,
            monitors,
            args.interval,
            targets,
            location,
            args.concurrency,
        )
    finally:
        server.stop()


async def create_catalog(
    args: argparse.Namespace,
    db: Database,
    folder: Path,
    targets: list[str],
    location: str,
    log: Any,
) -> dict[str, Any] | None:
    """The run's monitors in ``db``; the API's timing when it was taken. With
    ``--create-sample M`` (fewer than all), M monitors are created through the API on a
    scratch database (timed) and the run's catalog is written straight to the database."""
    sample = min(args.create_sample or args.monitors, args.monitors)
    if args.create == "api" and sample == args.monitors:
        return await time_creation(args, db, folder, targets, location, sample, log)
    timing = None
    if args.create == "api":
        scratch = Database("postgresql", folder)
        scratch.url = await create_database(scratch.name)
        try:
            await asyncio.to_thread(upgrade, scratch.url)
            timing = await time_creation(args, scratch, folder, targets, location, sample, log)
        finally:
            await scratch.drop()
    await seed_direct(db.url, args.monitors, args.interval, targets, location)
    return timing


async def time_apply_run(
    args: argparse.Namespace, folder: Path, targets: list[str], location: str, log: Any
) -> dict[str, Any]:
    """``uptally apply`` of a catalog file with the run's monitors (or ``--create-sample``
    of them) on a scratch database: timing only."""
    monitors = min(args.create_sample or args.monitors, args.monitors)
    name = new_database_name("uptally_apply")
    url = await create_database(name)
    try:
        await asyncio.to_thread(upgrade, url)
        path = folder / "catalog.yaml"
        write_catalog(path, monitors, args.interval, targets, location)
        log(f"uptally apply -f catalog.yaml ({path.stat().st_size / 1e6:.1f} MB)")
        result = await asyncio.to_thread(time_apply, url, path, folder)
        if result["exit_status"] == 0:
            result["monitors_per_second"] = round(monitors / result["seconds"], 1)
        result["monitors"] = monitors
        return result
    finally:
        await drop_database(name)


def pg_cpu_by_pid(pids: list[int]) -> dict[int, float]:
    return {pid: c for pid in pids if (c := cpu_seconds(pid)) is not None}


class Deployment:
    def __init__(self) -> None:
        self.servers: list[Proc] = []
        self.bases: list[str] = []
        self.agents: list[Proc] = []
        self.agent_metrics: list[str] = []

    def processes(self) -> list[Proc]:
        return [*self.servers, *self.agents]

    def metrics_urls(self) -> list[str]:
        return [f"{b}/metrics" for b in self.bases] + self.agent_metrics


async def deploy(
    args: argparse.Namespace, db: Database, folder: Path, agents: int, log: Any
) -> Deployment:
    d = Deployment()
    for k in range(args.servers):
        port = free_port()
        scheduler = "true" if agents == 0 and k == 0 else "false"
        env = serve_env(db.url, folder, UPTALLY_SCHEDULER_ENABLED=scheduler)
        d.servers.append(start(f"serve-{k}", uptally("serve", "--port", str(port)), folder, env))
        d.bases.append(f"http://127.0.0.1:{port}")
    for proc, base in zip(d.servers, d.bases, strict=True):
        await asyncio.to_thread(wait_ready, proc, f"{base}/readyz")
    if agents:
        token = agent_key(db.url)
        metrics = agent_has_metrics()
        for k in range(agents):
            argv = uptally(
                "agent",
                "--server",
                d.bases[k % len(d.bases)],
                "--location",
                AGENT_LOCATION,
                "--shard",
                f"{k}/{agents}",
                "--state-dir",
                str(folder / f"agent-{k}"),
                "--allow-private",
            )
            if metrics:
                port = free_port()
                argv += ["--metrics-listen", f"127.0.0.1:{port}"]
                d.agent_metrics.append(f"http://127.0.0.1:{port}/metrics")
            d.agents.append(start(f"agent-{k}", argv, folder, {"UPTALLY_AGENT_TOKEN": token}))
    log(f"deployed: {args.servers} server(s), {agents} agent(s)")
    return d


async def sample_metrics(urls: list[str]) -> tuple[Scrape, list[float]]:
    """Every process's scheduler figures summed; the scrape times (the first server's
    first: the full /metrics a Prometheus server reads)."""
    total, times = Scrape(), []
    for url in urls:
        try:
            elapsed, figures = await asyncio.to_thread(scrape, url)
        except Exception:
            continue
        total = total + figures
        times.append(elapsed)
    return total, times


async def load_phase(
    args: argparse.Namespace, db: Database, d: Deployment, target: Target, log: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    probers_export = bool(d.agent_metrics) or not d.agents
    readers = Readers(d.bases, args.monitors, args.credits_every)
    reading = asyncio.create_task(readers.run())
    procs = {p.name: p for p in [*d.processes(), target.proc]}
    rows_prev = await db.stored()
    cpu_prev = {name: p.cpu() for name, p in procs.items()}
    pg_prev = pg_cpu_by_pid(await pg_pids(db.name))
    started = t_prev = time.monotonic()
    first, _ = await sample_metrics(d.metrics_urls())
    steady_from: Scrape | None = None
    steady_at = args.interval + 10  # first runs are spread over one interval
    samples: list[dict[str, Any]] = []
    prev_scrape = first
    end = started + args.minutes * 60
    while (now := time.monotonic()) < end:
        await asyncio.sleep(min(args.sample, end - now))
        figures, scrape_times = await sample_metrics(d.metrics_urls())
        rows = await db.stored()
        marks, age = await db.backlog()
        t = time.monotonic()
        dt = t - t_prev
        cpu = {name: p.cpu() for name, p in procs.items()}
        pids = await pg_pids(db.name)
        pg_now = pg_cpu_by_pid(pids)
        # A backend started since the last sample counts whole: all its CPU is recent.
        pg_cores = sum(c - pg_prev.get(pid, 0.0) for pid, c in pg_now.items()) / dt
        sample = {
            "t": round(t - started, 1),
            "stored_per_second": round((rows - rows_prev) / dt, 1),
            "stored_total": rows,
            # Checks run (not stored): only where every prober exports its counters.
            "checks_per_second": round((figures.checks - prev_scrape.checks) / dt, 1)
            if probers_export
            else None,
            "shed": int(figures.shed - prev_scrape.shed),
            "lag_p50_ms": ms(histogram_quantile(prev_scrape.lag_buckets, figures.lag_buckets, 0.5)),
            "lag_p99_ms": ms(
                histogram_quantile(prev_scrape.lag_buckets, figures.lag_buckets, 0.99)
            ),
            "loop_lag_p99_ms": ms(
                histogram_quantile(prev_scrape.loop_lag_buckets, figures.loop_lag_buckets, 0.99)
            ),
            # The servers' garbage-collector passes in the window and their mean pause.
            "gc_passes": int(figures.gc_passes - prev_scrape.gc_passes),
            "gc_mean_ms": ms(
                (figures.gc_seconds - prev_scrape.gc_seconds)
                / max(1.0, figures.gc_passes - prev_scrape.gc_passes)
            ),
            "fold_backlog_marks": marks,
            "fold_backlog_age_s": age,
            "metrics_ms": ms(scrape_times[0]) if scrape_times else None,
            **readers.take(),
            "rss_mb": {name: round(p.rss() / 2**20, 1) for name, p in procs.items()}
            | {"postgres": round(pg_rss(pids) / 2**20, 1)},
            "cores": {name: round((cpu[name] - cpu_prev[name]) / dt, 2) for name in procs}
            | {"postgres": round(pg_cores, 2)},
        }
        samples.append(sample)
        log(
            f"t={sample['t']:>6}s stored/s={sample['stored_per_second']:>8} "
            f"lag p99={sample['lag_p99_ms']} ms shed={sample['shed']} "
            f"backlog={marks} ({age} s) sla p99={sample['sla_p99_ms']} ms "
            f"credits={sample['credits_max_ms']} ms metrics={sample['metrics_ms']} ms "
            f"loop p99={sample['loop_lag_p99_ms']} ms "
            f"gc={sample['gc_passes']}x{sample['gc_mean_ms']} ms"
        )
        if steady_from is None and t - started >= steady_at:
            steady_from = figures
            readers.steady = True
        rows_prev, cpu_prev, t_prev, prev_scrape, pg_prev = rows, cpu, t, figures, pg_now
        dead = [p.name for p in d.processes() if not p.alive()]
        if dead:
            log(f"processes exited: {dead}")
            break
    readers.stop.set()
    await reading
    steady = [s for s in samples if s["t"] >= steady_at] or samples
    lags = {}
    if steady_from is not None:
        for share in (0.5, 0.99):
            q = histogram_quantile(steady_from.lag_buckets, prev_scrape.lag_buckets, share)
            lags[f"lag_p{int(share * 100)}_ms"] = ms(q)
    summary = {
        "steady_from_seconds": steady_at,
        "stored_per_second_mean": round(statistics.mean(s["stored_per_second"] for s in steady), 1),
        "stored_per_second_min": min(s["stored_per_second"] for s in steady),
        **lags,
        "shed_total": sum(s["shed"] for s in samples),
        "fold_backlog_age_max_s": max((s["fold_backlog_age_s"] or 0) for s in steady),
        "fold_backlog_marks_max": max(s["fold_backlog_marks"] for s in steady),
        # The target's figure: p99 over every read of the steady run. A 10 s window
        # holds ~50 reads, so its "p99" is its slowest read; the worst window is kept too.
        "sla_p99_ms": ms(pct(readers.sla_steady, 0.99)),
        "sla_reads": len(readers.sla_steady),
        "sla_p99_ms_max": max((s["sla_p99_ms"] or 0) for s in steady),
        "credits_max_ms": max((s["credits_max_ms"] or 0) for s in steady),
        "metrics_max_ms": max((s["metrics_ms"] or 0) for s in steady),
        "read_errors": readers.errors[:20],
        "read_error_count": len(readers.errors),
        "rss_max_mb": {
            name: max(s["rss_mb"][name] for s in samples) for name in samples[-1]["rss_mb"]
        }
        if samples
        else {},
        "cores_mean": {
            name: round(statistics.mean(s["cores"][name] for s in steady), 2)
            for name in [*procs, "postgres"]
        },
    }
    return samples, summary


async def drain(
    db: Database, d: Deployment, watch: float = 5.0, most: float = 120.0
) -> dict[str, Any]:
    """Stop the probing (agents send what they hold as they stop), then watch the fold
    backlog: the drain time is when it was last seen non-empty, watched for at least
    ``watch`` seconds (the folder's own period and a last batch), at most ``most``."""
    marks_at_stop, age_at_stop = await db.backlog()
    for agent in d.agents:
        agent.stop()
    started = time.monotonic()
    last_busy: float | None = None
    marks = marks_at_stop
    while (elapsed := time.monotonic() - started) < most:
        marks, _ = await db.backlog()
        if marks > 0:
            last_busy = elapsed
        elif elapsed >= watch:
            break
        await asyncio.sleep(0.5)
    return {
        "backlog_at_stop": marks_at_stop,
        "backlog_age_at_stop_s": age_at_stop,
        "backlog_left": marks,
        "drain_seconds": None if marks else round(last_busy or 0.0, 1),
        "gave_up_after_seconds": most if marks else None,
    }


async def storage(db: Database) -> dict[str, Any]:
    [rows] = await pg_execute(
        db.name,
        "SELECT pg_total_relation_size('check_results') AS bytes, count(*) AS n FROM check_results",
    )
    size, count = int(rows[0]["bytes"]), int(rows[0]["n"])
    return {
        "check_results_rows": count,
        "check_results_bytes": size,
        "bytes_per_result": round(size / count, 1) if count else None,
    }


async def run_scale(args: argparse.Namespace, log: Any) -> dict[str, Any]:
    rate = args.monitors / args.interval
    agents = args.agents if args.agents is not None else max(1, -(-int(rate) // CHECKS_PER_AGENT))
    location = AGENT_LOCATION if agents else "local"
    report: dict[str, Any] = {
        "monitors": args.monitors,
        "interval_seconds": args.interval,
        "rate": round(rate, 1),
        "minutes": args.minutes,
        "deployment": {"servers": args.servers, "agents": agents, "database": "postgresql"},
        "targets": TARGETS,
    }
    with tempfile.TemporaryDirectory(prefix="uptally-scale-") as tmp:
        folder = Path(tmp)
        target = Target(folder, rate, procs=2 if rate > 1000 else 1)
        db = Database("postgresql", folder)
        db.url = await create_database(db.name)
        deployment: Deployment | None = None
        try:
            await asyncio.to_thread(upgrade, db.url)
            report["create_api"] = await create_catalog(
                args, db, folder, target.urls, location, log
            )
            log(f"created: {report['create_api']}")
            if not args.skip_apply:
                report["create_apply"] = await time_apply_run(
                    args, folder, target.urls, location, log
                )
                log(f"apply: {report['create_apply']}")
            deployment = await deploy(args, db, folder, agents, log)
            report["agent_metrics"] = bool(deployment.agent_metrics) or agents == 0
            samples, summary = await load_phase(args, db, deployment, target, log)
            report["samples"], report["summary"] = samples, summary
            report["drain"] = await drain(db, deployment)
            report["storage"] = await storage(db)
            stop_started = time.monotonic()
            for server in deployment.servers:
                server.stop(60)
            report["drain"]["servers_stop_seconds"] = round(time.monotonic() - stop_started, 1)
            report["verdict"] = verdict(report)
        finally:
            if deployment is not None:
                for proc in deployment.processes():
                    proc.stop(10)
            target.proc.stop()
            await db.drop()
    return report


def verdict(report: dict[str, Any]) -> dict[str, bool | None]:
    s = report["summary"]
    lag = s.get("lag_p99_ms")
    return {
        "keeps_up (stored >= 97 % of the rate)": s["stored_per_second_mean"]
        >= 0.97 * report["rate"],
        "lag p99 < 1 s": None if lag is None else lag < 1000,
        "nothing shed": s["shed_total"] == 0,
        "SLA p99 < 200 ms": (s.get("sla_p99_ms") or s["sla_p99_ms_max"]) < TARGETS["sla_p99_ms"],
        "/metrics < 500 ms": s["metrics_max_ms"] < TARGETS["metrics_max_ms"],
        "fold backlog never older than 30 s": s["fold_backlog_age_max_s"] <= 30,
    }


def markdown(report: dict[str, Any]) -> str:
    d, s = report["deployment"], report["summary"]
    lines = [
        f"# Scale run: {report['monitors']:,} HTTP monitors at {report['interval_seconds']} s "
        f"({report['rate']:,} checks/s), {report['minutes']:g} minutes",
        "",
        f"Measured {report['measured_at']} on {report['machine']}; {report['note']}.",
        f"Command: `{report['command']}`.",
        "",
        f"Deployment: {d['servers']} `uptally serve` process(es) (API, ingest, fold; "
        + ("scheduler in the first" if d["agents"] == 0 else "no scheduler")
        + f"), {d['agents']} `uptally agent --shard K/{d['agents']}` process(es), PostgreSQL, "
        "one local target process.",
        "",
        "## Summary",
        "",
        "| figure | value |",
        "| --- | --- |",
    ]
    c = report.get("create_api") or {}
    if "total_seconds" in c:
        lines.append(
            f"| create {c['monitors']:,} monitors through the API ({c['posts']:,} POSTs, "
            f"{c['concurrency']} at once) | "
            f"{c['total_seconds']} s ({c['monitors_per_second']} monitors/s) |"
        )
    a = report.get("create_apply")
    if a:
        lines.append(
            f"| `uptally apply -f catalog.yaml` ({a['monitors']:,} monitors, "
            f"{a['file_bytes'] / 1e6:.1f} MB) | "
            f"{a['seconds']} s"
            + (
                f" ({a['monitors_per_second']} monitors/s)"
                if "monitors_per_second" in a
                else f", exit {a['exit_status']}: {a['error']}"
            )
            + " |"
        )
    lag = (
        f"{s.get('lag_p50_ms')} / {s.get('lag_p99_ms')} ms"
        if report.get("agent_metrics")
        else "not exported by today's agents"
    )
    dr, st = report["drain"], report["storage"]
    lines += [
        f"| results stored /s after {s['steady_from_seconds']} s (mean, min) | "
        f"{s['stored_per_second_mean']:,} / {s['stored_per_second_min']:,} |",
        f"| lag p50 / p99 | {lag} |",
        f"| shed | {s['shed_total']} |",
        f"| fold backlog: most marks, oldest | {s['fold_backlog_marks_max']}, "
        f"{s['fold_backlog_age_max_s']} s |",
        f"| fold backlog when the load stopped: marks (oldest) | {dr['backlog_at_stop']} "
        f"({dr['backlog_age_at_stop_s']} s) |",
        "| ... drained after the load stopped | "
        + (
            f"{dr['drain_seconds']} s"
            if dr["drain_seconds"] is not None
            else f"not within {dr['gave_up_after_seconds']} s ({dr['backlog_left']} left)"
        )
        + f"; servers stopped in {dr.get('servers_stop_seconds')} s |",
        f"| SLA endpoint p99 over the steady run ({s.get('sla_reads')} reads); "
        f"worst 10 s window | {s.get('sla_p99_ms')} ms; {s['sla_p99_ms_max']} ms |",
        f"| credits, every service (slowest) | {s['credits_max_ms']} ms |",
        f"| /metrics (slowest scrape) | {s['metrics_max_ms']} ms |",
        f"| read errors | {s['read_error_count']} |",
        f"| bytes per stored result | {st['bytes_per_result']} "
        f"({st['check_results_rows']:,} rows) |",
        "| RSS max per process (postgres: its processes summed, shared buffers in each) | "
        + ", ".join(f"{k} {v} MB" for k, v in s["rss_max_mb"].items())
        + " |",
        "| cores used (mean) | " + ", ".join(f"{k} {v}" for k, v in s["cores_mean"].items()) + " |",
        "",
        "Verdict: "
        + "; ".join(
            f"{k}: {'yes' if v else 'no' if v is not None else 'n/a'}"
            for k, v in report["verdict"].items()
        ),
        "",
        "## Every sample",
        "",
        "| t s | stored/s | lag p50 / p99 ms | shed | backlog marks (oldest s) | SLA p50 / p99 ms "
        "| credits ms | /metrics ms | loop held p99 ms | GC passes (mean ms) "
        "| RSS MB (servers; agents) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for x in report["samples"]:
        rss = x["rss_mb"]
        servers = "/".join(str(v) for k, v in rss.items() if k.startswith("serve"))
        agents = "/".join(str(v) for k, v in rss.items() if k.startswith("agent"))
        lines.append(
            f"| {x['t']} | {x['stored_per_second']} | {x['lag_p50_ms']} / {x['lag_p99_ms']} | "
            f"{x['shed']} | {x['fold_backlog_marks']} ({x['fold_backlog_age_s']}) | "
            f"{x['sla_p50_ms']} / {x['sla_p99_ms']} | {x['credits_max_ms']} | "
            f"{x['metrics_ms']} | {x.get('loop_lag_p99_ms')} | "
            f"{x.get('gc_passes')} ({x.get('gc_mean_ms')}) | {servers}; {agents or '-'} |"
        )
    return "\n".join(lines) + "\n"
