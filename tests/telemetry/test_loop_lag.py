"""The event loop's lag: a stretch of work that does not yield shows as lag."""

from __future__ import annotations

import asyncio
import gc
import time

from prometheus_client import CollectorRegistry

from app.telemetry.looplag import LoopLag


def observed(registry: CollectorRegistry, bucket: str) -> float:
    value = registry.get_sample_value("uptally_event_loop_lag_seconds_bucket", {"le": bucket})
    assert value is not None
    return value


async def test_a_held_loop_shows_as_lag_and_a_free_one_does_not() -> None:
    registry = CollectorRegistry()
    lag, stop = LoopLag(registry), asyncio.Event()
    task = asyncio.create_task(lag.run(stop, every=0.02))
    await asyncio.sleep(0.2)  # a free loop: ten or so looks, none late by 0.25 s
    free = registry.get_sample_value("uptally_event_loop_lag_seconds_count")
    assert free is not None and free >= 3
    assert observed(registry, "0.25") == free
    time.sleep(0.4)  # noqa: ASYNC251 (the point: the loop held, as by work that never yields)
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 1)
    count = registry.get_sample_value("uptally_event_loop_lag_seconds_count")
    assert count is not None and count > free
    assert count - observed(registry, "0.25") >= 1  # the look the stretch delayed
    late = registry.get_sample_value("uptally_event_loop_lag_seconds_sum")
    # The lateness, not the time slept: ~0.4 s in all (slept time would add 0.02 s
    # per look on top).
    assert late is not None and 0.35 <= late < 0.55


async def test_garbage_collector_passes_are_timed_by_generation() -> None:
    registry = CollectorRegistry()
    lag, stop = LoopLag(registry), asyncio.Event()
    task = asyncio.create_task(lag.run(stop, every=0.02))
    await asyncio.sleep(0.05)

    def passes(generation: str) -> float:
        return (
            registry.get_sample_value("uptally_gc_pause_seconds_count", {"generation": generation})
            or 0.0
        )

    before = passes("2")
    for _ in range(3):
        gc.collect()  # a full pass each (generation 2)
    assert passes("2") >= before + 3
    total = registry.get_sample_value("uptally_gc_pause_seconds_sum", {"generation": "2"})
    assert total is not None and total > 0
    stop.set()
    await asyncio.wait_for(task, 1)
    at_stop = passes("2")
    gc.collect()  # no longer listening once stopped
    assert passes("2") == at_stop
    assert lag._on_gc not in gc.callbacks
