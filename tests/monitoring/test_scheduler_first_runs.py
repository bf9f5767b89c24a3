"""First runs of a large set of monitors: added in slices, soonest first, while the
event loop keeps running, and placed over the whole interval from when they were
asked for, not from when their job happened to be added."""

from __future__ import annotations

import asyncio

from app.monitoring.checks import MonitorSpec
from app.monitoring.scheduler import ADD_SLICE, CheckScheduler, first_run_delay, job_id
from probes.registry import ProbeContext

COUNT = 4 * ADD_SLICE + 123


def _specs(interval: int = 60) -> dict[int, MonitorSpec]:
    return {
        i: MonitorSpec(i, "http", f"http://m{i}.example/", {}, interval, 5, ("local",), 0)
        for i in range(1, COUNT + 1)
    }


class SteppingClock:
    """Epoch seconds an hour ahead of now (so no first run is ever in the past for
    APScheduler), advancing 1 ms at each reading: adding jobs takes clock time."""

    def __init__(self) -> None:
        import time

        self.now = time.time() + 3600

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


async def test_a_large_set_is_added_in_slices_while_the_loop_runs() -> None:
    clock = SteppingClock()
    scheduler = CheckScheduler("local", ProbeContext(), lambda _: None, clock=clock)
    scheduler.start()
    seen_while_adding: list[int] = []

    async def watch() -> None:  # runs between slices, or not at all if apply blocks
        while scheduler.adding:
            seen_while_adding.append(len(scheduler.scheduler.get_jobs()))
            await asyncio.sleep(0)

    try:
        scheduler.apply(_specs())
        assert scheduler.adding == COUNT  # nothing added yet: apply returned at once
        watcher = asyncio.create_task(watch())
        await scheduler.added()
        await watcher
        assert len(scheduler.scheduler.get_jobs()) == COUNT
        # The loop ran between slices: the watcher saw the set partly added.
        assert any(0 < jobs < COUNT for jobs in seen_while_adding)
    finally:
        scheduler.shutdown()


async def test_first_runs_are_placed_from_the_apply_not_from_when_each_job_was_added() -> None:
    clock = SteppingClock()
    scheduler = CheckScheduler("local", ProbeContext(), lambda _: None, clock=clock)
    scheduler.start()
    try:
        asked_at = clock.now  # apply reads the clock once, next
        scheduler.apply(_specs())
        await scheduler.added()
        asked_at += 0.001
        late = 0
        for monitor_id in range(1, COUNT + 1):
            job = scheduler.scheduler.get_job(job_id(monitor_id))
            expected = asked_at + first_run_delay(monitor_id, 60)
            got = job.next_run_time.timestamp()
            # Never earlier than the clock when added; otherwise exactly from the apply.
            if got > expected + 1e-3:
                late += 1
        # Only jobs whose place fell before they were added (the first ~COUNT ms of
        # the window, which adding takes on the stepping clock) start later.
        assert late <= COUNT * (COUNT * 0.001 + 1) / 60
    finally:
        scheduler.shutdown()


async def test_first_runs_cover_the_whole_interval() -> None:
    clock = SteppingClock()
    scheduler = CheckScheduler("local", ProbeContext(), lambda _: None, clock=clock)
    scheduler.start()
    try:
        start = clock.now
        scheduler.apply(_specs())
        await scheduler.added()
        offsets = sorted(
            job.next_run_time.timestamp() - start
            for job in scheduler.scheduler.get_jobs()
            if job.id.startswith("monitor-")
        )
        # Every 10 s of the 60 s interval gets its share (1/6) of the first runs, give
        # or take 2 %: none bunched into the first half-minute.
        for tenth in range(6):
            share = sum(10 * tenth <= o < 10 * (tenth + 1) for o in offsets) / COUNT
            assert abs(share - 1 / 6) < 0.02, (tenth, share)
    finally:
        scheduler.shutdown()


async def test_a_monitor_removed_while_waiting_to_be_added_is_never_added() -> None:
    scheduler = CheckScheduler("local", ProbeContext(), lambda _: None, clock=SteppingClock())
    scheduler.start()
    try:
        wanted = _specs()
        scheduler.apply(wanted)
        gone = max(wanted, key=lambda i: first_run_delay(i, 60))  # the last to be added
        del wanted[gone]
        scheduler.apply(wanted)
        await scheduler.added()
        assert scheduler.scheduler.get_job(job_id(gone)) is None
        assert gone not in scheduler.specs
        assert len(scheduler.scheduler.get_jobs()) == COUNT - 1
    finally:
        scheduler.shutdown()


def test_without_a_running_loop_everything_is_added_at_once() -> None:
    scheduler = CheckScheduler("local", ProbeContext(), lambda _: None, clock=SteppingClock())
    scheduler.apply(_specs())  # an agent applies its saved assignment before starting
    assert scheduler.adding == 0
    assert len(scheduler.specs) == COUNT
