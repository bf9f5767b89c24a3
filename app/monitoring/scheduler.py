"""The check scheduler: one APScheduler job per monitor, each result handed to a sink.

It knows nothing of where monitors come from or where results go: the server feeds it
from its database and buffers results into it (app.monitoring.server), a remote agent
feeds it from the API and keeps results on disk (app.agent). No database here.

Jobs start spread over their interval (so 1,000 monitors at 60 s do not all fire at
once), never overlap themselves (``max_instances=1``; a run that would is skipped and
counted as shed, evenly across monitors), and run under a global concurrency bound
with a per-check timeout. APScheduler's default ``misfire_grace_time`` of 1 s silently
drops runs under load; here a run may start up to a whole interval late. Every instant
the scheduler reads (first runs, lag, a result's ``checked_at``) comes from the
injected ``clock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from app.monitoring.checks import MonitorSpec, ResultIn, cert_expiry, known_timings
from probes.registry import ProbeContext, run_probe

WATCHDOG_EVERY = 60  # a job with no probe (a heartbeat) looks at least this often

# Knuth's multiplicative constant: 2^32 divided by the golden ratio.
_GOLDEN = 2_654_435_769
_SCALE = 2**32


def first_run_delay(monitor_id: int, interval: float, spread: float | None = None) -> float:
    """Seconds from scheduling a monitor to its first run, within its interval (or
    within ``spread`` seconds, if that is shorter).

    The monitor's place in the window is its id's step in the golden-ratio sequence:
    consecutive ids (monitors created together) land far apart, and any number of
    monitors, or every N-th one (an agent's shard), cover the window evenly. Integer
    arithmetic, so it holds for ids up to 2^63 too.
    """
    window = interval if spread is None else max(0.0, min(interval, spread))
    return (monitor_id * _GOLDEN % _SCALE) / _SCALE * window


def max_lag(spec: MonitorSpec) -> float:
    """How late a run may start before it is shed: half its interval, at most 30 s."""
    return min(spec.interval_seconds / 2, 30.0)


def job_id(monitor_id: int) -> str:
    return f"monitor-{monitor_id}"


class CheckScheduler:
    """Runs checks for a set of monitors and hands each result to ``sink``."""

    def __init__(
        self,
        location: str,
        probes: ProbeContext,
        sink: Callable[[ResultIn], None],
        concurrency: int = 100,
        spread: float | None = None,
        clock: Callable[[], float] = time.time,
        observe_lag: Callable[[float], None] | None = None,
    ) -> None:
        """``spread`` caps the window first runs are spread over (default: the whole
        interval); ``clock`` gives epoch seconds; ``observe_lag`` receives how late
        each run started."""
        self.location = location
        self.observe_lag = observe_lag
        self.probes = probes
        self.sink = sink
        self.spread = spread
        self.clock = clock
        self.limit = asyncio.Semaphore(concurrency)
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_listener(self._on_shed, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self.specs: dict[int, MonitorSpec] = {}
        self.stats = {"checks": 0, "shed": 0}
        self._due: dict[int, float] = {}
        self.in_flight = 0
        self._idle = asyncio.Event()

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def apply(self, wanted: dict[int, MonitorSpec]) -> None:
        """Make the jobs match ``wanted``: add, replace and remove as needed."""
        for monitor_id in set(self.specs) - set(wanted):
            self.remove(monitor_id)
        for spec in wanted.values():
            if self.specs.get(spec.id) != spec:
                self.schedule(spec)

    def schedule(self, spec: MonitorSpec) -> None:
        self.specs[spec.id] = spec
        interval = spec.interval_seconds
        if spec.kind == "heartbeat":
            interval = min(interval, WATCHDOG_EVERY)
        # Spread first runs, so monitors created together do not fire in step.
        first = self.clock() + first_run_delay(spec.id, interval, self.spread)
        self.scheduler.add_job(
            self.run_job,
            IntervalTrigger(seconds=interval, start_date=datetime.fromtimestamp(first, UTC)),
            args=[spec.id],
            id=job_id(spec.id),
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=interval,
        )

    def remove(self, monitor_id: int) -> None:
        self.specs.pop(monitor_id, None)
        if self.scheduler.get_job(job_id(monitor_id)):
            self.scheduler.remove_job(job_id(monitor_id))

    def _on_shed(self, event: JobEvent) -> None:
        if event.job_id.startswith("monitor-"):
            self.stats["shed"] += 1

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        # Remember when the run was due; the lag is taken when the check really
        # starts (after waiting for a concurrency slot), in run_job.
        if event.job_id.startswith("monitor-") and event.scheduled_run_times:
            self._due[int(event.job_id.removeprefix("monitor-"))] = event.scheduled_run_times[
                -1
            ].timestamp()

    async def check_now(self, monitor_id: int) -> None:
        """Run one check of a scheduled monitor immediately."""
        await self.run_job(monitor_id)

    async def run_job(self, monitor_id: int) -> None:
        spec = self.specs.get(monitor_id)
        if spec is None or spec.kind == "heartbeat":
            return
        async with self.limit:
            due = self._due.pop(monitor_id, None)
            lag = max(0.0, self.clock() - due) if due is not None else 0.0
            if self.observe_lag is not None and due is not None:
                self.observe_lag(lag)
            if lag > max_lag(spec):
                # Overloaded: a run this late is skipped rather than run late, so lag
                # stays bounded and on-time runs keep the capacity. Counted as shed.
                self.stats["shed"] += 1
                return
            started = self.clock()
            self.in_flight += 1
            self._idle.clear()
            try:
                result = await run_probe(
                    spec.kind, spec.target, spec.options, spec.timeout_seconds, self.probes
                )
            finally:
                self.in_flight -= 1
                if not self.in_flight:
                    self._idle.set()
        self.stats["checks"] += 1
        self.sink(
            ResultIn(
                monitor_id=spec.id,
                location=self.location,
                checked_at=int(started),
                ok=result.ok,
                interval_seconds=spec.interval_seconds,
                latency_ms=result.latency_ms,
                status_code=result.status_code,
                error=result.error,
                warning=result.warning,
                timings=known_timings(result.timings),
                cert_expires_at=cert_expiry(result.details),
            )
        )

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout``) for running checks to finish, e.g. before exit."""
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout)
