"""Big reads (every service's month: credits, the figures cache) hand the event loop
back between batches of rows, and answer exactly as a read in one go (both
databases)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import app.db as db
import app.reporting.load as load
from app.api.billing import _json
from app.models import Monitor
from app.sla.periods import month_period
from bench.run import MONTH, seed_catalog

SERVICES = 200


def plain(state: load.StoredState) -> Any:
    """A StoredState as comparable values, whatever the order rows came in."""
    return (
        {k: sorted(v) for k, v in state.monitors.items()},
        {
            m: {loc: sorted(s, key=repr) for loc, s in by.items()}
            for m, by in state.segments.items()
        },
        {k: sorted(v, key=repr) for k, v in state.maintenance.items()},
    )


async def test_a_streamed_load_equals_a_load_in_one_go(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_catalog(sessions, SERVICES, months=1)
    async with sessions() as session:
        services = await load.load_services(session)
        ids = [s.id for s in services]
        span = month_period(MONTH, "UTC")
        whole = plain(await load.load_state(session, ids, span))  # IN lists, one go each
        monkeypatch.setattr(load, "MANY_SERVICES", 10)  # every row, streamed ...
        monkeypatch.setattr(db, "BATCH_ROWS", 7)  # ... seven at a time
        streamed = plain(await load.load_state(session, ids, span))
        again = await load.load_services(session)
        sizes = [len(b) async for b in db.batches(session, select(Monitor.id), big=True)]
    assert len(services) == SERVICES
    assert sum(len(v) for v in whole[0].values()) == SERVICES  # one monitor each
    assert sum(len(s) for by in whole[1].values() for s in by.values()) > SERVICES
    assert streamed == whole
    assert again == services
    assert sizes == [7] * (SERVICES // 7) + [SERVICES % 7]  # a turn of the loop after each


async def test_credits_json_encoded_in_slices_is_the_page() -> None:
    items = [
        {"service_id": i, "credit_amount": f"{i}.00", "reason": 'a "quote"'} for i in range(1234)
    ]
    page = {"month": "2026-11", "items": items, "total": 1234, "limit": None, "offset": 0}
    assert json.loads(await _json(page)) == page
    empty = {**page, "items": [], "total": 0}
    assert json.loads(await _json(empty)) == empty
