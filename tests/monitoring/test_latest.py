"""The latest result per monitor and location: which result wins, and the seeding
from the database at start (newest stored row of each pair, on both databases)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import CheckResult
from app.monitoring.checks import ResultIn
from app.monitoring.latest import SEED_CHUNK, LatestResults, load_latest, seed
from tests.conftest import Api
from tests.helpers import make_monitor


def result(at: int, ok: bool = True, **fields: Any) -> ResultIn:
    return ResultIn(monitor_id=1, location="fra", checked_at=at, ok=ok, **fields)


def test_a_later_result_wins_and_at_the_same_second_a_failure_wins() -> None:
    latest = LatestResults()
    latest.observe([result(100), result(90, ok=False)])  # an older one arrives late
    assert latest.get((1, "fra")) == result(100)
    latest.observe([result(100, ok=False)])
    assert latest.get((1, "fra")) == result(100, ok=False)
    latest.observe([result(100, ok=True, latency_ms=5)])  # the success does not undo it
    assert latest.get((1, "fra")) == result(100, ok=False)
    latest.observe([result(100, ok=False, timings={"total": 5.0})])  # a richer copy does
    assert latest.get((1, "fra")) == result(100, ok=False, timings={"total": 5.0})
    assert latest.take_changed() == {1} and latest.take_changed() == set()


def test_a_forgotten_monitor_has_no_results_left() -> None:
    latest = LatestResults()
    latest.observe([result(100), ResultIn(monitor_id=2, location="fra", checked_at=5, ok=True)])
    latest.retain({2})
    assert latest.get((1, "fra")) is None and latest.of_monitor(1) == {}
    assert latest.of_monitor(2)


async def test_seeding_finds_the_newest_stored_row_of_every_pair_and_keeps_newer_ones(
    api: Api, catalog: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    service_id = catalog["service"]["id"]
    ids = [
        (
            await make_monitor(
                api, service_id, f"https://{i}.acme.example/", locations=["fra", "ams"]
            )
        )["id"]
        for i in range(3)
    ]
    rows = [
        {
            "monitor_id": m,
            "location": loc,
            "checked_at": 1_750_000_000 + step * 60,
            "ok": step != 2,
            "interval_seconds": 60,
            "latency_ms": step,
            "status_code": 200,
            "warning": "slow" if step == 2 else None,
            "received_at": 1_750_000_000,
        }
        for m in ids
        for loc in ("fra", "ams")
        for step in range(3)
    ]
    async with sessions() as session, session.begin():
        await session.execute(insert(CheckResult), rows)
    # More pairs than one query asks at once, most of them without any row.
    pairs = [(m, loc) for m in ids for loc in ("fra", "ams")]
    pairs += [(999_000 + i, "fra") for i in range(SEED_CHUNK + 5)]
    async with sessions() as session:
        found = await load_latest(session, pairs)
    assert set(found) == {(m, loc) for m in ids for loc in ("fra", "ams")}
    newest = found[(ids[0], "ams")]
    assert (newest.checked_at, newest.ok, newest.latency_ms, newest.warning) == (
        1_750_000_120,
        False,
        2,
        "slow",
    )
    latest = LatestResults()
    fresher = ResultIn(monitor_id=ids[1], location="fra", checked_at=1_760_000_000, ok=True)
    latest.observe([fresher])  # ingested while seeding ran: it stays
    async with sessions() as session:
        assert await seed(session, latest, pairs) == 6
    assert latest.seeded and latest.get((ids[1], "fra")) is fresher
    assert latest.get((ids[2], "fra")) == found[(ids[2], "fra")]
