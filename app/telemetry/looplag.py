"""How late the event loop runs what is due: ``uptally_event_loop_lag_seconds``.

Every request, check and background loop of a process shares one event loop, so a
long stretch of work that does not yield (a report over every service, a big batch)
delays everything else by as much. A task sleeps ``every`` seconds again and again
and records how much later than asked it woke: the loop's lag, whatever held it.
Read it beside the request latencies: a p99 far above the p50 with spare CPU is the
loop being held, not a lack of CPU.

One thing that holds it is CPython's garbage collector, whose passes stop every
thread: ``uptally_gc_pause_seconds`` times each pass by generation (at 30,000
monitors, with young passes every 50,000 allocations, they took 30-200 ms and middle
ones 200-330 ms; app.gc_tuning).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
GC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
EVERY = 0.1  # seconds between two looks: cheap (ten wake-ups a second), fine enough


class LoopLag:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram(
            "uptally_event_loop_lag_seconds",
            "How much later than due the event loop woke a sleeping task",
            buckets=BUCKETS,
            registry=registry,
        )
        self.gc_pauses = Histogram(
            "uptally_gc_pause_seconds",
            "How long each garbage-collector pass stopped the process, by generation",
            ["generation"],
            buckets=GC_BUCKETS,
            registry=registry,
        )
        self._gc_started = 0.0

    async def run(self, stop: asyncio.Event, every: float = EVERY) -> None:
        loop = asyncio.get_running_loop()
        gc.callbacks.append(self._on_gc)
        try:
            while not stop.is_set():
                asked = loop.time() + every
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every)
                if not stop.is_set():
                    self.histogram.observe(max(0.0, loop.time() - asked))
        finally:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """CPython calls this around every pass, in whichever thread set it off (the
        pass holds the interpreter lock: passes never overlap)."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            taken = time.perf_counter() - self._gc_started
            self.gc_pauses.labels(str(info["generation"])).observe(taken)
