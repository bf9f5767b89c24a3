"""The monitor roster loads every monitor a batch at a time (the event loop turns
between batches) and still knows exactly which entries changed, appeared or went."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import app.db as db
import app.monitoring.roster as roster_module
from app.models import Monitor, Service
from app.monitoring.roster import MonitorRoster, _load
from bench.run import seed_catalog

MONITORS = 100  # one per service (bench.run seeds customers of 100 services)


async def test_a_streamed_load_equals_one_query_and_notes_what_changed(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_catalog(sessions, MONITORS, months=1)
    monkeypatch.setattr(db, "BATCH_ROWS", 7)
    sizes: list[int] = []

    async def counted(*args: Any, **kwargs: Any) -> AsyncIterator[Sequence[Any]]:
        async for batch in db.batches(*args, **kwargs):
            sizes.append(len(batch))
            yield batch

    monkeypatch.setattr(roster_module, "batches", counted)
    roster = MonitorRoster()
    async with sessions() as session:
        await roster.load(session, 1.0)
        whole = await _load(session)
    assert len(whole) == MONITORS
    assert sizes == [7] * (MONITORS // 7) + [MONITORS % 7]  # the loop turns between them
    assert dict(roster.entries()) == whole
    assert roster.take_touched() == set(whole)  # all new
    assert roster.loaded_at == 1.0

    renamed, gone, moved = sorted(whole)[3], sorted(whole)[80], sorted(whole)[20]
    async with sessions() as session, session.begin():
        await session.execute(update(Monitor).where(Monitor.id == renamed).values(name="new"))
        await session.execute(delete(Monitor).where(Monitor.id == gone))
        # A service renamed: its monitor's entry changes though the monitor did not.
        service_id = whole[moved].service_id
        await session.execute(update(Service).where(Service.id == service_id).values(name="S"))
    async with sessions() as session:
        await roster.load(session, 2.0)
    assert roster.take_touched() == {renamed, gone, moved}
    assert roster.get(renamed) is not None and roster.get(renamed).name == "new"  # type: ignore[union-attr]
    assert roster.get(gone) is None
    assert len(roster.entries()) == MONITORS - 1

    held = dict(roster.entries())
    async with sessions() as session:
        await roster.load(session, 3.0)
    assert roster.take_touched() == set()  # nothing changed: no series written again
    # ... and the entries held are kept (the ones just read die young: app.gc_tuning).
    assert all(roster.get(k) is entry for k, entry in held.items())


async def test_a_reload_while_the_roster_streams_wins_over_the_rows_read_before_it(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API edit reloads its monitor at once; a full load streaming meanwhile read
    that monitor's row before the edit and must not undo it (nor bring back a monitor
    deleted meanwhile)."""
    await seed_catalog(sessions, MONITORS, months=1)
    monkeypatch.setattr(db, "BATCH_ROWS", 7)
    roster = MonitorRoster()
    async with sessions() as session:
        await roster.load(session, 1.0)
    ids = sorted(roster.entries())
    renamed, gone = ids[0], ids[1]  # both in the first batch, streamed before the edits

    async def edited_after_the_first_batch(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        first = True
        async for batch in db.batches(*args, **kwargs):
            yield batch
            if first:
                first = False
                async with sessions() as other, other.begin():
                    await other.execute(
                        update(Monitor).where(Monitor.id == renamed).values(name="edited")
                    )
                    await other.execute(delete(Monitor).where(Monitor.id == gone))
                async with sessions() as other:
                    assert await roster.reload(other, [renamed, gone]) == {gone}

    monkeypatch.setattr(roster_module, "batches", edited_after_the_first_batch)
    roster.take_touched()
    async with sessions() as session:
        await roster.load(session, 2.0)
    assert roster.get(renamed).name == "edited"  # type: ignore[union-attr]
    assert roster.get(gone) is None
    assert len(roster.entries()) == MONITORS - 1
    assert {renamed, gone} <= roster.take_touched()
