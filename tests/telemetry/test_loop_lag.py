"""The event loop's lag: a stretch of work that does not yield shows as lag."""

from __future__ import annotations

import asyncio
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
