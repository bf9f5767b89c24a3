"""Reads have bounded latency during a burst: credits fold within a budget and say
what is still pending; folding takes only the log rows present when it starts; closing
a month folds everything first (both databases)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

import app.monitoring.folding as folding
from app.config import Settings
from app.main import create_app
from app.models import DirtyMarks
from app.monitoring.checks import ResultIn
from app.monitoring.ingest import store_results
from app.monitoring.marks import shard_of
from tests.conftest import Api, asgi_api
from tests.helpers import make_key, make_service
from tests.test_api_sla import hourly, june_with_44_minutes_down, push


@pytest.fixture
async def no_budget(settings: Settings) -> AsyncIterator[tuple[Any, Api]]:
    """An app whose reads may not fold at all (a budget of 0 s): as in a burst."""
    application = create_app(
        settings.model_copy(update={"read_fold_budget_seconds": 0.0, "fold_interval_seconds": 3600})
    )
    async with application.router.lifespan_context(application), asgi_api(application) as api:
        yield application, api


async def log_rows(application: Any) -> int:
    async with application.state.runtime.sessions() as session:
        count: int = await session.scalar(select(func.count()).select_from(DirtyMarks))
        return count


async def test_credits_answer_with_what_is_folded_and_say_results_are_pending(
    no_budget: tuple[Any, Api], db_url: str
) -> None:
    application, api = no_budget
    catalog = await make_service(api)
    monitor = await api.create(
        "/api/v1/monitors",
        {"service_id": catalog["service"]["id"], "name": "home", "kind": "tcp", "target": "a:1"},
    )
    await push(api, june_with_44_minutes_down(monitor["id"]))
    response = await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)
    page = response.json()
    assert page["pending_results"] is True
    assert response.headers["x-uptally-pending-results"] == "true"
    assert page["items"][0]["needs_review"] is True  # nothing folded yet: no data
    assert await log_rows(application) == 1

    # Closing folds everything first: the statement has the outage.
    billing = await make_key(db_url, "billing")
    await api.call("POST", "/api/v1/months/2025-06/close", token=billing, expect=200)
    assert await log_rows(application) == 0
    page = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    assert page["pending_results"] is False
    assert page["items"][0]["credit_amount"] == "10.00"


async def test_with_a_budget_credits_fold_first(api: Api, catalog: Any) -> None:
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    page = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    assert page["pending_results"] is False
    assert page["items"][0]["credit_amount"] == "10.00"


async def test_folding_everything_takes_only_the_log_present_when_it_starts(
    app: Any, api: Api, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch arriving during every pass (a steady stream) cannot keep it going."""
    monitor_id = catalog["monitor"]["id"]
    await push(api, hourly(monitor_id, "2025-06-01 00:00", "2025-06-01 05:00"))
    sessions = app.state.runtime.sessions
    original = folding._fold_pairs
    arrivals = 0

    async def fold_and_receive_more(session: Any, pairs: Any, *rest: Any) -> set[int]:
        nonlocal arrivals
        arrivals += 1
        async with sessions() as other, other.begin():
            row = ResultIn(
                monitor_id=monitor_id,
                location="local",
                checked_at=1_750_000_000 + arrivals * 60,
                ok=True,
                interval_seconds=60,
            )
            await store_results(other, [row], 1_760_000_000, {})
        return await original(session, pairs, *rest)

    monkeypatch.setattr(folding, "_fold_pairs", fold_and_receive_more)
    folded = await folding.fold_pending(sessions)
    assert folded.complete and folded.pairs == 1
    assert arrivals == 1  # one pass, over the one row that was there
    async with sessions() as session:
        assert await folding.pending_marks(session)  # the newcomer waits for the folder


async def test_a_read_does_not_wait_for_another_folder_of_its_monitor(
    api: Api, app: Any, catalog: Any, db_url: str
) -> None:
    """On PostgreSQL, folders of several processes take a shard's advisory lock: a
    read waits for its monitor's shard at most its patience, then answers and says so."""
    if not db_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's; SQLite folds in short transactions")
    from sqlalchemy import text

    from app.db import make_engine

    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    other = make_engine(db_url)
    try:
        async with other.connect() as conn, conn.begin():
            key = {"kind": folding.SHARD_LOCK, "shard": shard_of(catalog["monitor"]["id"])}
            await conn.execute(text("SELECT pg_advisory_xact_lock(:kind, :shard)"), key)
            busy = await api.call(
                "GET", f"/api/v1/services/{catalog['service']['id']}/sla?month=2025-06", expect=200
            )
            assert busy.json()["pending_results"] is True
            assert busy.json()["no_data_seconds"] > 0  # not folded: no data yet
        free = await api.call(
            "GET", f"/api/v1/services/{catalog['service']['id']}/sla?month=2025-06", expect=200
        )
        assert free.json()["pending_results"] is False
        assert free.json()["credit_amount"] == "10.00"
    finally:
        await other.dispose()
