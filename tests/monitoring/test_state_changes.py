"""Stored state changes of monitors (quorum) and services, on both databases.

The folder reconciles them after each fold; any arrival order of the results ends in
the same rows, a late result that moves an outage's start moves its row (keeping
whether it was processed), and consumers claim each due row once.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import make_engine, make_sessionmaker
from app.models import (
    CheckResult,
    Customer,
    DirtyMarks,
    LocationSegment,
    Monitor,
    Service,
    SlaPolicy,
    StateChange,
)
from app.monitoring.checks import ResultIn
from app.monitoring.dispatch import claim, complete, dispatch_once, run_dispatcher
from app.monitoring.folding import fold_pending
from app.monitoring.ingest import store_results
from app.monitoring.state_changes import MONITOR, SERVICE, Stored, match_changes
from app.sla.timeline import (
    Observation,
    State,
    fold_location,
    monitor_states,
    service_states,
    transitions,
)

T0 = 1_750_000_000  # a fixed instant; every result is relative to it
STEP = 400  # longer than the dirty log's 5-minute rounding, so it cannot hide a bug
NOW = T0 + 10**6

Rows = list[ResultIn]
ChangeKey = tuple[str, int, int, str, str]


async def make_catalog(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """A service with two monitors: ``multi`` at locations a and b with quorum 2, and
    ``single`` at location a needing two failures in a row."""
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        customer = Customer(slug="acme", name="Acme", timezone="UTC", created_at=now)
        policy = SlaPolicy(
            name="Gold",
            target_percent=Decimal("99.9"),
            credit_tiers=[{"from_percent": "0", "to_percent": "99.9", "credit_percent": "10"}],
            hourly_multiplier=Decimal(1),
            percent_per_hour=Decimal(0),
            credit_cap_percent=Decimal(100),
            min_credit_amount=Decimal(0),
            created_at=now,
        )
        session.add_all([customer, policy])
        await session.flush()
        service = Service(
            customer_id=customer.id,
            policy_id=policy.id,
            name="Shop",
            slug="shop",
            monthly_fee=Decimal("100.00"),
            starts_at=datetime(2020, 1, 1, tzinfo=UTC),
            created_at=now,
        )
        session.add(service)
        await session.flush()
        monitors = {
            "multi": Monitor(locations=["a", "b"], quorum=2, failure_confirmations=1),
            "single": Monitor(locations=["a"], quorum=1, failure_confirmations=2),
        }
        for name, monitor in monitors.items():
            monitor.service_id = service.id
            monitor.name = name
            monitor.kind = "http"
            monitor.target = "https://acme.example/"
            monitor.interval_seconds = STEP
            monitor.options = {}
            monitor.created_at = monitor.updated_at = now
            session.add(monitor)
        await session.flush()
        return {
            "service": service.id,
            "multi": monitors["multi"].id,
            "single": monitors["single"].id,
        }


async def clear_timeline(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        for model in (StateChange, LocationSegment, DirtyMarks, CheckResult):
            await session.execute(delete(model))


async def ingest(sessions: async_sessionmaker[AsyncSession], rows: Rows) -> None:
    async with sessions() as session, session.begin():
        await store_results(session, rows, NOW, {})


async def stored_changes(sessions: async_sessionmaker[AsyncSession]) -> list[ChangeKey]:
    async with sessions() as session:
        rows = await session.scalars(select(StateChange))
        return sorted((r.subject, r.subject_id, r.at, r.old, r.new) for r in rows)


def result(monitor_id: int, location: str, step: int, ok: bool) -> ResultIn:
    return ResultIn(
        monitor_id=monitor_id,
        location=location,
        checked_at=T0 + step * STEP,
        ok=ok,
        interval_seconds=STEP,
    )


# ------------------------------------------------------------------ examples


async def test_a_result_that_only_moves_the_coming_silence_changes_no_history(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A fold names the services whose history of changes changed (their figures are
    recomputed at once); a fresh result that only moves the coming silence (the change
    into NO DATA, still in the future) further out names none: at 100,000 monitors
    that would be one recompute of a month's figures per check. The change itself is
    still moved."""
    ids = await make_catalog(sessions)
    single, now = ids["single"], int(time.time())

    def fresh(at: int, ok: bool) -> ResultIn:
        return ResultIn(
            monitor_id=single, location="a", checked_at=at, ok=ok, interval_seconds=STEP
        )

    await ingest(sessions, [fresh(now - 60, True)])
    assert (await fold_pending(sessions)).services == {ids["service"]}  # NO DATA -> UP
    await ingest(sessions, [fresh(now - 50, True)])
    assert (await fold_pending(sessions)).services == set()
    silences = [c for c in await stored_changes(sessions) if c[4] == "no_data"]
    assert {c[2] for c in silences} == {now - 50 + 2 * STEP}  # moved, not duplicated
    await ingest(sessions, [fresh(now - 40, False), fresh(now - 30, False)])
    assert (await fold_pending(sessions)).services == {ids["service"]}  # UP -> DOWN


async def test_an_outage_becomes_one_down_and_one_up_change_per_subject(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    single = ids["single"]
    # ok, fail, fail, fail, ok: confirmed (2 in a row) from its first failure (step 1).
    await ingest(sessions, [result(single, "a", i, ok) for i, ok in enumerate([1, 0, 0, 0, 1])])
    folded = await fold_pending(sessions)
    assert folded.services == {ids["service"]}
    down, up = T0 + STEP, T0 + 4 * STEP
    stale = T0 + 4 * STEP + 2 * STEP  # the last success holds for twice the interval
    expected = [
        (MONITOR, single, T0, "no_data", "up"),
        (MONITOR, single, down, "up", "down"),
        (MONITOR, single, up, "down", "up"),
        (MONITOR, single, stale, "up", "no_data"),
    ]
    service = [(SERVICE, ids["service"], *change[2:]) for change in expected]
    assert await stored_changes(sessions) == sorted(expected + service)
    # Folding again changes nothing.
    await ingest(sessions, [result(single, "a", 2, False)])
    await fold_pending(sessions)
    assert await stored_changes(sessions) == sorted(expected + service)


async def test_a_single_failure_below_the_confirmations_is_no_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    single = ids["single"]
    await ingest(sessions, [result(single, "a", i, ok) for i, ok in enumerate([1, 0, 1, 1])])
    await fold_pending(sessions)
    news = [c[4] for c in await stored_changes(sessions) if c[0] == MONITOR]
    assert "down" not in news
    assert news == ["up", "no_data"]


async def test_quorum_two_needs_both_locations_failing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    multi = ids["multi"]
    rows = [result(multi, "a", i, ok) for i, ok in enumerate([1, 0, 0, 0, 1])]
    rows += [result(multi, "b", i, ok) for i, ok in enumerate([1, 1, 0, 0, 1])]
    await ingest(sessions, rows)
    await fold_pending(sessions)
    monitor = [c for c in await stored_changes(sessions) if c[:2] == (MONITOR, multi)]
    # a fails from step 1, b from step 2: the quorum of 2 is met from step 2 only.
    assert (MONITOR, multi, T0 + 2 * STEP, "up", "down") in monitor
    assert (MONITOR, multi, T0 + 4 * STEP, "down", "up") in monitor
    assert not any(c[2] == T0 + STEP for c in monitor)
    async with sessions() as session:
        reason = await session.scalar(
            select(StateChange.reason).where(
                StateChange.subject == MONITOR, StateChange.new == "down"
            )
        )
    assert reason is not None and "a, b" in reason and "quorum 2" in reason


async def test_a_late_result_moves_the_outage_start_and_keeps_the_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    multi = ids["multi"]
    # Both locations fail from step 3; b's failure at step 2 arrives late.
    rows = [result(multi, "a", i, ok) for i, ok in enumerate([1, 1, 0, 0, 0, 1])]
    rows += [result(multi, "b", i, ok) for i, ok in enumerate([1, 1, 1, 0, 0, 1]) if i != 2]
    await ingest(sessions, rows)
    await fold_pending(sessions)
    async with sessions() as session, session.begin():
        token, claimed = await claim(session, "test", NOW)
        down = next(c for c in claimed if c.subject == SERVICE and c.new == "down")
        assert down.at == T0 + 3 * STEP
        await complete(session, token, [c.id for c in claimed], NOW)

    await ingest(sessions, [result(multi, "b", 2, False)])
    await fold_pending(sessions)
    async with sessions() as session:
        rows_now = list(
            await session.scalars(
                select(StateChange).where(StateChange.subject == SERVICE, StateChange.new == "down")
            )
        )
    assert len(rows_now) == 1
    assert rows_now[0].id == down.id  # the same row, moved
    assert rows_now[0].at == T0 + 2 * STEP
    assert rows_now[0].processed_at == NOW  # still processed: no second notification


async def test_a_late_failure_that_confirms_an_earlier_one_backdates_the_outage(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    single = ids["single"]  # two failures in a row confirm an outage
    await ingest(sessions, [result(single, "a", i, ok) for i, ok in [(0, 1), (1, 0), (3, 1)]])
    await fold_pending(sessions)
    assert not [c for c in await stored_changes(sessions) if c[4] == "down"]  # a blip
    await ingest(sessions, [result(single, "a", 2, False)])  # late: now two in a row
    await fold_pending(sessions)
    downs = [c for c in await stored_changes(sessions) if c[4] == "down"]
    assert downs == [
        (MONITOR, single, T0 + STEP, "up", "down"),
        (SERVICE, ids["service"], T0 + STEP, "up", "down"),
    ]


async def test_each_due_change_is_claimed_once_and_future_ones_wait(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    single = ids["single"]
    await ingest(sessions, [result(single, "a", i, ok) for i, ok in enumerate([1, 0, 0, 1])])
    await fold_pending(sessions)
    # At step 3 + 1 s, the stale point (step 5) has not come yet.
    now = T0 + 3 * STEP + 1
    async with sessions() as session, session.begin():
        first_token, first = await claim(session, "one", now)
    async with sessions() as session, session.begin():
        _, second = await claim(session, "two", now)
    assert len(first) == 6  # no_data->up, up->down, down->up for monitor and service
    assert second == []
    assert all(c.at <= now for c in first)
    # A lease that ran out lets another consumer take the rows; the first can no
    # longer complete them.
    later = now + 61
    async with sessions() as session, session.begin():
        token, retaken = await claim(session, "two", later)
    assert {c.id for c in retaken} == {c.id for c in first}
    async with sessions() as session, session.begin():
        assert await complete(session, first_token, [c.id for c in first], later) == 0
        assert await complete(session, token, [c.id for c in retaken], later) == len(first)
    async with sessions() as session, session.begin():
        _, after = await claim(session, "three", T0 + 10 * STEP)
    assert [c.new for c in after] == ["no_data", "no_data"]  # the stale point, now due


async def test_concurrent_claims_never_share_a_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    pattern = [i % 3 != 0 for i in range(60)]
    await ingest(sessions, [result(ids["multi"], "a", i, ok) for i, ok in enumerate(pattern)])
    await ingest(sessions, [result(ids["multi"], "b", i, ok) for i, ok in enumerate(pattern)])
    await fold_pending(sessions)

    async def consume(name: str) -> list[int]:
        got: list[int] = []
        while True:
            async with sessions() as session, session.begin():
                token, changes = await claim(session, name, NOW, limit=3)
                if not changes:
                    return got
                await complete(session, token, [c.id for c in changes], NOW)
            got += [c.id for c in changes]

    results = await asyncio.gather(*(consume(f"c{i}") for i in range(3)))
    every = [i for got in results for i in got]
    assert len(every) == len(set(every)) == len(await stored_changes(sessions)) > 10


async def test_the_dispatcher_hands_changes_to_handlers_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    await ingest(sessions, [result(ids["single"], "a", i, True) for i in range(3)])
    await fold_pending(sessions)
    seen: list[Any] = []

    async def handler(changes: Any) -> None:
        seen.extend(changes)

    assert await dispatch_once(sessions, [handler], "test", NOW) == 4
    assert await dispatch_once(sessions, [handler], "test", NOW) == 0
    assert sorted((c.subject, c.new) for c in seen) == sorted(
        [(MONITOR, "up"), (MONITOR, "no_data"), (SERVICE, "up"), (SERVICE, "no_data")]
    )


async def test_the_dispatcher_heeds_a_stop_between_batches(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A first start at 100,000 monitors has 200,000 changes due at once: a stop waits
    for the batch in hand, not for all of them."""
    ids = await make_catalog(sessions)
    pattern = [i % 3 != 0 for i in range(300)]
    await ingest(sessions, [result(ids["multi"], "a", i, ok) for i, ok in enumerate(pattern)])
    await ingest(sessions, [result(ids["multi"], "b", i, ok) for i, ok in enumerate(pattern)])
    await fold_pending(sessions)
    assert len(await stored_changes(sessions)) > 200  # more than two batches of 100
    stop = asyncio.Event()
    batches: list[int] = []

    async def handler(changes: Any) -> None:
        batches.append(len(changes))
        stop.set()

    await asyncio.wait_for(run_dispatcher(sessions, [handler], 60, stop, clock=lambda: NOW), 30)
    assert batches == [100]


# ------------------------------------------------------------------ any arrival order

outcomes = st.lists(st.sampled_from([True, True, False, None]), min_size=3, max_size=14)


def expected_changes(ids: dict[str, int], rows: Rows) -> list[ChangeKey]:
    """The changes computed directly by the pure functions over all results at once."""
    window = (T0 - 1, T0 + 30 * STEP)
    per_monitor = {}
    for name, quorum, confirmations in (("multi", 2, 1), ("single", 1, 2)):
        monitor_id = ids[name]
        locations = [
            fold_location(
                [
                    Observation(r.checked_at, r.ok, STEP)
                    for r in rows
                    if r.monitor_id == monitor_id and r.location == loc
                ],
                confirmations,
            )
            for loc in ("a", "b")
        ]
        per_monitor[monitor_id] = monitor_states(locations, quorum, window)
    service = service_states(list(per_monitor.values()), window)
    keys: list[ChangeKey] = []
    for subject, subject_id, states in [
        *((MONITOR, monitor_id, s) for monitor_id, s in per_monitor.items()),
        (SERVICE, ids["service"], service),
    ]:
        keys += [
            (subject, subject_id, t.at, t.old.value, t.new.value)
            for t in transitions(states, window)
        ]
    return sorted(keys)


@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    multi_a=outcomes,
    multi_b=outcomes,
    single=outcomes,
    seed=st.integers(0, 2**32),
    batches=st.integers(1, 6),
)
def test_any_arrival_order_gives_the_same_changes(
    db_url: str,
    multi_a: list[bool | None],
    multi_b: list[bool | None],
    single: list[bool | None],
    seed: int,
    batches: int,
) -> None:
    async def scenario() -> None:
        engine = make_engine(db_url)
        sessions = make_sessionmaker(engine)
        try:
            async with sessions() as session:
                found = await session.scalar(select(Service.id))
            if found is None:
                await make_catalog(sessions)
            async with sessions() as session:
                monitor_ids = {
                    name: monitor_id
                    for name, monitor_id in await session.execute(select(Monitor.name, Monitor.id))
                }
                service_id = await session.scalar(select(Service.id))
            assert service_id is not None
            ids = {**monitor_ids, "service": service_id}
            await clear_timeline(sessions)
            rows = [
                result(ids[name], loc, step, ok)
                for name, loc, pattern in (
                    ("multi", "a", multi_a),
                    ("multi", "b", multi_b),
                    ("single", "a", single),
                )
                for step, ok in enumerate(pattern)
                if ok is not None  # None: no result at this step (a gap)
            ]
            if not rows:
                return
            shuffled = rows[:]
            random.Random(seed).shuffle(shuffled)
            size = -(-len(shuffled) // batches)
            for start in range(0, len(shuffled), size):
                await ingest(sessions, shuffled[start : start + size])
                await fold_pending(sessions)
            assert await stored_changes(sessions) == expected_changes(ids, rows)
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_expected_changes_sees_an_outage() -> None:
    """The reference itself is not vacuous: a confirmed outage shows up in it."""
    ids = {"multi": 1, "single": 2, "service": 3}
    rows = [result(2, "a", i, ok) for i, ok in enumerate([True, False, False, True])]
    keys = expected_changes(ids, rows)
    assert (SERVICE, 3, T0 + STEP, State.UP.value, State.DOWN.value) in keys
    assert (MONITOR, 2, T0 + 3 * STEP, "down", "up") in keys


# ------------------------------------------------------------------ catalog edits


async def test_a_quorum_edit_and_a_monitor_delete_recompute_the_changes(
    api: Any, catalog: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    service_id = catalog["service"]["id"]
    monitor = await api.create(
        "/api/v1/monitors",
        {
            "service_id": service_id,
            "name": "two places",
            "kind": "tcp",
            "target": "db.acme.example:5432",
            "locations": ["local", "fra"],
        },
    )
    rows = [
        {
            "monitor_id": monitor["id"],
            "location": location,
            "checked_at": f"2025-06-01T00:0{minute}:00Z",
            "ok": location == "fra" or minute in (0, 4),
            "interval_seconds": 60,
        }
        for location in ("local", "fra")
        for minute in range(5)
    ]
    await api.call("POST", "/api/v1/results", json={"results": rows}, expect=202)
    await fold_pending(sessions)

    def downs(changes: list[ChangeKey]) -> list[tuple[str, int]]:
        return [(c[0], c[1]) for c in changes if c[4] == "down"]

    # Quorum 1: local failing from 00:01 to 00:04 makes the monitor and service DOWN.
    assert downs(await stored_changes(sessions)) == [
        (MONITOR, monitor["id"]),
        (SERVICE, service_id),
    ]
    await api.call("PATCH", f"/api/v1/monitors/{monitor['id']}", json={"quorum": 2}, expect=200)
    assert downs(await stored_changes(sessions)) == []
    await api.call("PATCH", f"/api/v1/monitors/{monitor['id']}", json={"quorum": 1}, expect=200)
    assert len(downs(await stored_changes(sessions))) == 2

    await api.call("DELETE", f"/api/v1/monitors/{monitor['id']}", expect=204)
    # The remaining monitor never reported: the service has no data and no changes.
    assert await stored_changes(sessions) == []


# ------------------------------------------------------------------ row identity


def test_matching_follows_time_not_just_labels() -> None:
    """Three outages stored; the middle one vanishes: the last keeps its own row."""
    stored = [
        Stored(10, "up", "down", True),
        Stored(15, "down", "up", True),
        Stored(20, "up", "down", True),
        Stored(25, "down", "up", True),
        Stored(30, "up", "down", True),
        Stored(35, "down", "up", False),
    ]
    wanted = [(10, "up", "down"), (15, "down", "up"), (30, "up", "down"), (35, "down", "up")]
    assert match_changes(stored, wanted) == {0: 0, 1: 1, 2: 4, 3: 5}


def test_an_outage_found_earlier_keeps_its_row_and_a_later_silence_is_new() -> None:
    stored = [Stored(100, "up", "down", True), Stored(200, "down", "up", True)]
    # The outage started at 90 (a late failure) and the recovery came at 210.
    assert match_changes(stored, [(90, "up", "down"), (210, "down", "up")]) == {0: 0, 1: 1}
    silence = [Stored(300, "up", "no_data", True)]
    assert match_changes(silence, [(280, "up", "no_data")]) == {0: 0}  # earlier: same
    assert match_changes(silence, [(400, "up", "no_data")]) == {}  # later: a new silence
    pending = [Stored(300, "up", "no_data", False)]
    assert match_changes(pending, [(400, "up", "no_data")]) == {0: 0}  # not yet handled


async def test_a_silence_handled_then_undone_by_a_late_result_is_handled_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await make_catalog(sessions)
    single = ids["single"]
    await ingest(sessions, [result(single, "a", i, True) for i in range(3)])
    await fold_pending(sessions)
    stale = T0 + 2 * STEP + 2 * STEP  # the last result goes stale
    async with sessions() as session, session.begin():
        token, first = await claim(session, "n", stale + 1)
        await complete(session, token, [c.id for c in first], stale + 1)
    assert {(c.subject, c.new, c.at) for c in first} >= {(MONITOR, "no_data", stale)}
    # A late result shows the monitor was reporting after all: that silence never was.
    await ingest(sessions, [result(single, "a", 3, True)])
    await fold_pending(sessions)
    later = stale + STEP
    async with sessions() as session, session.begin():
        _, again = await claim(session, "n", later)
    assert sorted((c.subject, c.new, c.at) for c in again) == [
        (MONITOR, "no_data", later),
        (SERVICE, "no_data", later),
    ]
