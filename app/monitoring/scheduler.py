"""The check scheduler: one APScheduler job per monitor, each result handed to a sink.

It knows nothing of where monitors come from or where results go: the server feeds it
from its database and buffers results into it (app.monitoring.server), a remote agent
feeds it from the API and keeps results on disk (app.agent). No database here.

Jobs start spread over their interval (so 1,000 monitors at 60 s do not all fire at
once) and are added soonest-first in slices between which the loop runs: adding
100,000 APScheduler jobs takes tens of seconds of CPU, and added in one go it blocked
the loop, so every first run due meanwhile fired at once when it ended (the first
checks of a large deployment bunched into its first half-minute). Jobs never overlap
themselves (``max_instances=1``; a run that would is skipped and
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
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.interval import IntervalTrigger

from app.loop import in_slices
from app.monitoring.checks import MonitorSpec, ResultIn, cert_expiry, known_timings
from probes.registry import ProbeContext, run_probe

# Histogram buckets of how late runs start (the server's and the agents' metrics).
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

WATCHDOG_EVERY = 60  # a job with no probe (a heartbeat) looks at least this often
# Jobs added per turn of the event loop when many are added at once: ~0.1-0.3 s of
# APScheduler's bookkeeping, so due checks keep starting while a large set is added.
ADD_SLICE = 500

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
        # Specs waiting to be added by _add_pending, with the instant their first run
        # is counted from (when apply was called).
        self._pending: dict[int, tuple[MonitorSpec, float]] = {}
        self._adding: asyncio.Task[None] | None = None
        self._version = 0  # counts changes to _pending, so a slower adder re-sorts
        self.in_flight = 0
        self._idle = asyncio.Event()

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        if self._adding is not None:
            self._adding.cancel()
            self._adding = None
        self._pending.clear()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def apply(self, wanted: dict[int, MonitorSpec]) -> None:
        """Make the jobs match ``wanted``: remove at once, add and replace soonest
        first, in slices of ADD_SLICE between which the event loop runs (all at once
        when there are few, or no loop or scheduler running). Every first run is
        placed from now, however long the adding takes."""
        for monitor_id in (set(self.specs) | set(self._pending)) - set(wanted):
            self.remove(monitor_id)
        now = self.clock()
        for spec in wanted.values():
            waiting = self._pending.get(spec.id)
            if (waiting[0] if waiting else self.specs.get(spec.id)) != spec:
                self._pending[spec.id] = (spec, now)
                self._version += 1
        if not self._pending:
            return
        try:
            loop_running = asyncio.get_running_loop().is_running()
        except RuntimeError:
            loop_running = False
        if len(self._pending) <= ADD_SLICE or not loop_running or not self.scheduler.running:
            self._add(sorted(self._pending.items(), key=self._first_run))
        elif self._adding is None or self._adding.done():
            self._adding = asyncio.create_task(self._add_pending(), name="add-jobs")

    @property
    def adding(self) -> int:
        """How many jobs are still waiting to be added."""
        return len(self._pending)

    async def added(self) -> None:
        """Wait until the jobs ``apply`` asked for are all added."""
        if self._adding is not None:
            await self._adding

    async def _add_pending(self) -> None:
        while self._pending:
            version = self._version
            order = sorted(self._pending.items(), key=self._first_run)
            async for part in in_slices(order, ADD_SLICE):
                if self._version != version:  # apply or remove changed what waits
                    break
                self._add(part)

    def _add(self, entries: list[tuple[int, tuple[MonitorSpec, float]]]) -> None:
        """Add jobs for ``entries`` of ``_pending`` still waiting. APScheduler is paused
        meanwhile: each job added to a running scheduler queues a wake-up of its own
        (50,000 of them for 50,000 jobs); paused, one wake-up follows the slice."""
        pause = self.scheduler.state == STATE_RUNNING
        if pause:
            self.scheduler.pause()
        try:
            for monitor_id, entry in entries:
                if self._pending.get(monitor_id) is entry:
                    self.schedule(*entry)
        finally:
            if pause:
                self.scheduler.resume()

    def _first_run(self, item: tuple[int, tuple[MonitorSpec, float]]) -> float:
        spec, since = item[1]
        return since + first_run_delay(spec.id, self._interval(spec), self.spread)

    @staticmethod
    def _interval(spec: MonitorSpec) -> int:
        if spec.kind == "heartbeat":
            return min(spec.interval_seconds, WATCHDOG_EVERY)
        return spec.interval_seconds

    def schedule(self, spec: MonitorSpec, since: float | None = None) -> None:
        """(Re)schedule ``spec``'s job, its first run placed in the interval that starts
        at ``since`` (default: now), and never in the past."""
        self._pending.pop(spec.id, None)
        self.specs[spec.id] = spec
        interval = self._interval(spec)
        now = self.clock()
        # Spread first runs, so monitors created together do not fire in step.
        first = max(
            now, (now if since is None else since) + first_run_delay(spec.id, interval, self.spread)
        )
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
        if self._pending.pop(monitor_id, None) is not None:
            self._version += 1
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
