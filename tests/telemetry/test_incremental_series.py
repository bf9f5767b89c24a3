"""The probe series are written incrementally (only pairs whose result or roster entry
changed): after any sequence of results, roster changes and forgotten monitors, a
scrape must show exactly what a scrape from scratch over the same state shows."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from app.monitoring.checks import ResultIn
from app.monitoring.latest import LatestResults
from app.monitoring.roster import MonitorEntry, MonitorRoster
from app.reporting.cache import CurrentMonthFigures
from app.telemetry import exposition as exposition_module
from app.telemetry import text as text_module
from app.telemetry.exposition import Exposition
from tests.helpers import another_task, samples_by_family

LOCATIONS = ("fra", "nyc")


def entry(monitor_id: int, name: str = "web", enabled: bool = True) -> MonitorEntry:
    return MonitorEntry(
        id=monitor_id,
        name=f"{name}-{monitor_id}",
        kind="http",
        enabled=enabled,
        interval_seconds=60,
        locations=LOCATIONS if monitor_id % 2 else ("fra",),
        service_id=monitor_id,
        service=f"svc-{monitor_id}",
        service_name="Service",
        customer_id=1,
        customer="acme",
        customer_name="Acme",
    )


def exposition(roster: MonitorRoster, latest: LatestResults) -> Exposition:
    figures = CurrentMonthFigures(sessions=None)  # type: ignore[arg-type]  # never refreshed
    return Exposition(CollectorRegistry(), roster, latest, figures)


def probe_lines(chunks: list[bytes]) -> list[str]:
    text = b"".join(chunks).decode()
    return sorted(line for line in text.splitlines() if line.startswith("uptally_probe"))


results = st.builds(
    ResultIn,
    monitor_id=st.integers(1, 6),
    location=st.sampled_from(LOCATIONS),
    checked_at=st.integers(1, 50),
    ok=st.booleans(),
    latency_ms=st.none() | st.integers(0, 5000),
    status_code=st.none() | st.sampled_from([200, 503]),
    timings=st.none()
    | st.fixed_dictionaries({"dns": st.floats(0, 100), "total": st.floats(0, 900)}),
)
steps = st.one_of(
    st.tuples(st.just("results"), st.lists(results, max_size=6)),
    st.tuples(st.just("rename"), st.integers(1, 6)),
    st.tuples(st.just("pause"), st.integers(1, 6)),
    st.tuples(st.just("delete"), st.integers(1, 6)),
    st.tuples(st.just("refresh"), st.none()),
    st.tuples(st.just("scrape"), st.none()),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(steps, max_size=25))
def test_an_incremental_scrape_equals_one_from_scratch(plan: list[tuple[str, object]]) -> None:
    async def run() -> None:
        roster, latest = MonitorRoster(), LatestResults()
        roster.replace({m: entry(m) for m in range(1, 7)}, 0)
        live = exposition(roster, latest)
        for action, arg in plan:
            entries = dict(roster.entries())
            if action == "results":
                latest.observe(arg)  # type: ignore[arg-type]
            elif action == "rename" and arg in entries:
                entries[arg] = replace(entries[arg], name=f"renamed-{arg}")  # type: ignore[index]
                roster.replace(entries, 0)
            elif action == "pause" and arg in entries:
                entries[arg] = replace(entries[arg], enabled=not entries[arg].enabled)  # type: ignore[index]
                roster.replace(entries, 0)
            elif action == "delete" and arg in entries:
                del entries[arg]  # type: ignore[arg-type]
                roster.replace(entries, 0)
                latest.retain(set(entries))
            elif action == "refresh":
                await live.refresh()
            elif action == "scrape":
                await live.render()
        shown = probe_lines(await live.render())
        # From scratch: a new roster (everything touched) over a copy of the results.
        again_roster, again_latest = MonitorRoster(), LatestResults()
        again_roster.replace(dict(roster.entries()), 0)
        again_latest.observe(latest.snapshot().values())
        assert shown == probe_lines(await exposition(again_roster, again_latest).render())

    asyncio.run(run())


def test_a_scrape_writes_only_what_changed() -> None:
    async def run() -> None:
        roster, latest = MonitorRoster(), LatestResults()
        roster.replace({m: entry(m) for m in range(1, 4)}, 0)
        live = exposition(roster, latest)
        latest.observe(
            ResultIn(monitor_id=m, location="fra", checked_at=10, ok=True, latency_ms=5)
            for m in range(1, 4)
        )
        first = probe_lines(await live.render())
        assert latest.fresh == set() and roster.touched == set()
        latest.observe([ResultIn(monitor_id=2, location="fra", checked_at=20, ok=False)])
        assert latest.fresh == {(2, "fra")}
        second = probe_lines(await live.render())
        changed = set(second) ^ set(first)
        assert changed and all('monitor_id="2"' in line for line in changed)

    asyncio.run(run())


def test_a_scrape_shares_the_event_loop_and_shows_every_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The series are written and joined in slices on the loop: another task gets its
    turns while a scrape of many monitors runs, and the text is what it would be in one
    go (each family's header once, then all its series together)."""
    monkeypatch.setattr(exposition_module, "PAIRS_PER_TURN", 50)
    monkeypatch.setattr(text_module, "ROWS_PER_TURN", 40)
    count = 1_000

    async def run() -> tuple[list[bytes], int]:
        roster, latest = MonitorRoster(), LatestResults()
        roster.replace({m: entry(m) for m in range(1, count + 1)}, 0)
        latest.observe(
            ResultIn(monitor_id=m, location="fra", checked_at=10, ok=m % 3 > 0, latency_ms=m)
            for m in range(1, count + 1)
        )
        async with another_task() as turns:
            chunks = await exposition(roster, latest).render()
        return chunks, len(turns)

    chunks, turns = asyncio.run(run())
    assert turns >= 40  # 20 slices written, 25 blocks joined
    text = b"".join(chunks).decode()
    counts = samples_by_family(text)
    # One sample per monitor in each family it has (no status code, no certificate).
    assert counts == {
        "uptally_probe_success": count,
        "uptally_probe_duration_seconds": count,  # the total only
        "uptally_probe_last_result_timestamp_seconds": count,
    }
    lines = text.splitlines()
    success = [line for line in lines if line.startswith("uptally_probe_success{")]
    assert sum(line.endswith(" 0") for line in success) == count // 3  # m % 3 == 0 failed
    assert sum(line.endswith(" 1") for line in success) == count - count // 3
    ids = sorted(int(line.split('monitor_id="')[1].split('"')[0]) for line in success)
    assert ids == list(range(1, count + 1))
    # The same lines as written in one go.
    monkeypatch.setattr(exposition_module, "PAIRS_PER_TURN", 10**6)
    monkeypatch.setattr(text_module, "ROWS_PER_TURN", 10**6)
    at_once, _ = asyncio.run(run())
    assert sorted(lines) == sorted(b"".join(at_once).decode().splitlines())


def test_a_cancelled_scrape_leaves_nothing_unwritten(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scrape cancelled while it writes (the client went away) hands the pairs it took
    back: the next scrape shows every series."""
    monkeypatch.setattr(exposition_module, "PAIRS_PER_TURN", 1)

    async def run() -> list[bytes]:
        roster, latest = MonitorRoster(), LatestResults()
        roster.replace({m: entry(m) for m in range(1, 21)}, 0)
        latest.observe(
            ResultIn(monitor_id=m, location="fra", checked_at=10, ok=True, latency_ms=m)
            for m in range(1, 21)
        )
        live = exposition(roster, latest)
        scrape = asyncio.create_task(live.render())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not scrape.done()
        scrape.cancel()
        with pytest.raises(asyncio.CancelledError):
            await scrape
        return await live.render()

    shown = samples_by_family(b"".join(asyncio.run(run())).decode())
    assert shown["uptally_probe_success"] == 20
