"""Closed months are money records with their own format: the API may grow, old
statements still read, and only late data makes an adjustment (both databases)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.db import make_engine, make_sessionmaker, transaction
from app.models import ClosedMonth, Statement
from app.reporting import documents
from app.reporting.statements import STATEMENT_FORMAT, read_statement
from tests.conftest import Api
from tests.helpers import Catalog, make_key
from tests.test_api_sla import june_with_44_minutes_down, push, sla


async def stored_statement(db_url: str) -> Statement:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            statement = await session.scalar(select(Statement))
            assert statement is not None
            return statement
    finally:
        await engine.dispose()


async def close_june(api: Api, db_url: str) -> None:
    billing = await make_key(db_url, "billing")
    await api.call("POST", "/api/v1/months/2025-06/close", token=billing, expect=200)


async def test_a_statement_has_its_own_versioned_format_with_the_terms(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    await close_june(api, db_url)
    statement = await stored_statement(db_url)
    content = statement.content
    assert content["format"] == STATEMENT_FORMAT == 2
    assert content["service"]["slug"] == "web" and content["month"] == "2025-06"
    assert content["terms"]["policy"]["target_percent"] == "99.9"
    assert content["terms"]["monitors"] == [
        {"id": catalog["monitor"]["id"], "quorum": 1, "confirmations": 1}
    ]
    assert content["terms"]["monthly_fee"] == "100" and content["terms"]["currency"] == "USD"
    # June 10 12:00-12:44 UTC down: 44 min; 43,156 / 43,200 = 99.8981... -> 10 %.
    assert content["figures"]["downtime_seconds"] == 44 * 60
    assert content["figures"]["uptime_percent"] == "99.8981"
    assert content["figures"]["credit_amount"] == "10.00"
    assert content["figures"]["downtime_periods"] == [[1749556800, 1749556800 + 44 * 60]]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    assert statement.digest == hashlib.sha256(canonical).hexdigest()


async def test_adding_a_field_to_the_sla_response_makes_no_adjustment(
    api: Api, db_url: str, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    service_id = catalog["service"]["id"]
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    await close_june(api, db_url)
    before = await sla(api, service_id)
    assert before["adjustment"] is None

    # The API grows a figure: every document now carries it.
    render = documents.render_figures
    monkeypatch.setattr(
        documents, "render_figures", lambda figures: {**render(figures), "new_figure": 1}
    )
    after = await sla(api, service_id)
    assert after["status"] == "closed"
    assert after["adjustment"] is None
    assert after["statement_digest"] == before["statement_digest"]
    assert after["uptime_percent"] == before["uptime_percent"] == "99.8981"
    page = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    assert page["items"][0]["adjustment_credit_delta"] is None


async def test_a_format_1_statement_still_reads_without_adjustment(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    """Statements written before format 2 stored the API's SLA document itself."""
    service_id = catalog["service"]["id"]
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    document = await sla(api, service_id)  # open: the document format 1 stored
    old = {k: v for k, v in document.items() if k not in ("status", "as_of")}
    old = {k: v for k, v in old.items() if k not in ("statement_digest", "adjustment")}
    closed_at = datetime(2025, 7, 2, tzinfo=UTC)
    engine = make_engine(db_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            session.add(
                Statement(
                    service_id=service_id,
                    month="2025-06",
                    content=old,
                    digest="0" * 64,
                    closed_at=closed_at,
                )
            )
            session.add(ClosedMonth(month="2025-06", closed_at=closed_at, closed_by="import"))
    finally:
        await engine.dispose()

    frozen = read_statement(old)
    assert frozen.format == 1 and frozen.figures["downtime_seconds"] == 44 * 60
    closed = await sla(api, service_id)
    assert closed["status"] == "closed"
    assert closed["adjustment"] is None
    for field in ("uptime_percent", "credit_amount", "downtime_periods", "period_start"):
        assert closed[field] == document[field]
    # Late data still shows as an adjustment of a format-1 statement.
    monitor_id = catalog["monitor"]["id"]
    await push(api, [_row(monitor_id, "2025-06-15T00:00:00Z", False)])
    await push(api, [_row(monitor_id, "2025-06-15T02:00:00Z", True)])
    late = await sla(api, service_id)
    assert late["adjustment"] is not None
    # The failure at 00:00 replaces that hour's success and holds until 01:00's.
    assert late["adjustment"]["downtime_seconds"] == 44 * 60 + 3600
    assert late["uptime_percent"] == document["uptime_percent"]


def _row(monitor_id: int, at: str, ok: bool) -> dict[str, Any]:
    return {
        "monitor_id": monitor_id,
        "location": "local",
        "checked_at": at,
        "ok": ok,
        "interval_seconds": 3600,
    }
