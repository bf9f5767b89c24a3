"""Results ingestion and the billing API through the real app, on both databases.

The catalog fixture's customer is in Europe/Berlin: its June 2025 runs from
2025-05-31 22:00 UTC to 2025-06-30 22:00 UTC (43,200 min), fee 100.00, target 99.9.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.models import CheckResult, Statement
from tests.conftest import ADMIN_TOKEN, Api
from tests.helpers import Catalog, make_key, make_monitor, make_other_customer


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hourly(monitor_id: int, start: str, end: str, ok: bool = True) -> list[dict[str, Any]]:
    rows, moment = [], at(start)
    while moment < at(end):
        rows.append(row(monitor_id, moment, ok))
        moment += timedelta(hours=1)
    return rows


def row(monitor_id: int, moment: datetime, ok: bool, location: str = "local") -> dict[str, Any]:
    return {
        "monitor_id": monitor_id,
        "location": location,
        "checked_at": moment.isoformat().replace("+00:00", "Z"),
        "ok": ok,
        "interval_seconds": 3600,
    }


def june_with_44_minutes_down(monitor_id: int) -> list[dict[str, Any]]:
    """Hourly successes all month; a failure at June 10 12:00 UTC, success at 12:44."""
    rows = hourly(monitor_id, "2025-05-31 20:00", "2025-07-01 00:00")
    rows.append(row(monitor_id, at("2025-06-10 12:00"), False))
    rows.append(row(monitor_id, at("2025-06-10 12:44"), True))
    return rows


async def push(api: Api, rows: list[dict[str, Any]], token: str = ADMIN_TOKEN) -> int:
    response = await api.call("POST", "/api/v1/results", json={"results": rows}, token=token)
    assert response.status_code == 202, response.text
    accepted: int = response.json()["accepted"]
    return accepted


async def sla(api: Api, service_id: int, month: str = "2025-06", **kw: Any) -> dict[str, Any]:
    response = await api.call("GET", f"/api/v1/services/{service_id}/sla?month={month}", **kw)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def stored_results(app: Any) -> int:
    async with app.state.runtime.sessions() as session:
        count: int = await session.scalar(select(func.count()).select_from(CheckResult))
        return count


# ------------------------------------------------------------------ ingestion


async def test_duplicates_are_stored_once(api: Api, app: Any, catalog: Catalog) -> None:
    rows = hourly(catalog["monitor"]["id"], "2025-06-01 00:00", "2025-06-01 05:00")
    assert await push(api, rows + rows[:2]) == 7
    assert await push(api, rows) == 5
    assert await stored_results(app) == 5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"monitor_id": 999_999}, "monitor 999999 does not exist"),
        ({"location": "mars"}, "is not probed from 'mars'"),
        ({"checked_at": "2099-01-01T00:00:00Z"}, "more than 5 minutes in the future"),
        ({"checked_at": "2025-06-01T00:00:00"}, "timezone"),
        ({"status_code": 42}, "status_code"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"ok": None}, "ok"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_one_bad_row_refuses_the_whole_batch_and_names_it(
    api: Api, app: Any, catalog: Catalog, change: dict[str, Any], field: str
) -> None:
    rows = hourly(catalog["monitor"]["id"], "2025-06-01 00:00", "2025-06-01 04:00")
    rows[2] = {**rows[2], **change}
    response = await api.call("POST", "/api/v1/results", json={"results": rows}, expect=422)
    detail = response.json()["detail"]
    assert any(e["loc"][:3] == ["body", "results", 2] for e in detail), detail
    assert field in response.text
    assert await stored_results(app) == 0


async def test_the_422_names_every_bad_row_of_the_batch(
    api: Api, app: Any, catalog: Catalog
) -> None:
    """Issue 8: the 422 named only the first bad row, and an agent needed one round trip
    per refused row. It names every one (what pydantic finds and what the endpoint checks
    itself, in row order), and still nothing of the batch is stored."""
    monitor_id = catalog["monitor"]["id"]
    rows = hourly(monitor_id, "2025-06-01 00:00", "2025-06-01 09:00")
    rows[1] = {**rows[1], "monitor_id": 999_999}
    rows[3] = {**rows[3], "latency_ms": -1}
    rows[4] = {**rows[4], "location": "mars"}
    rows[6] = {**rows[6], "checked_at": "1999-01-01T00:00:00Z", "ok": None}
    rows[8] = {**rows[8], "checked_at": "2099-01-01T00:00:00Z"}
    response = await api.call("POST", "/api/v1/results", json={"results": rows}, expect=422)
    locs = [e["loc"] for e in response.json()["detail"]]
    assert locs == [
        ["body", "results", 1, "monitor_id"],
        ["body", "results", 3, "latency_ms"],
        ["body", "results", 4, "location"],
        ["body", "results", 6, "checked_at"],
        ["body", "results", 6, "ok"],
        ["body", "results", 8, "checked_at"],
    ]
    assert await stored_results(app) == 0


async def test_the_422_of_a_batch_names_at_most_1000_errors(
    api: Api, app: Any, catalog: Catalog
) -> None:
    monitor_id = catalog["monitor"]["id"]
    start = at("2025-06-01 00:00")
    unknown = [row(999_999, start + timedelta(minutes=i), True) for i in range(1_500)]
    response = await api.call("POST", "/api/v1/results", json={"results": unknown}, expect=422)
    detail = response.json()["detail"]
    assert [e["loc"] for e in detail] == [
        ["body", "results", i, "monitor_id"] for i in range(1_000)
    ]
    invalid = [{**r, "ok": "maybe"} for r in unknown]
    response = await api.call("POST", "/api/v1/results", json={"results": invalid}, expect=422)
    assert len(response.json()["detail"]) == 1_000
    assert await push(api, [row(monitor_id, start, True)]) == 1
    assert await stored_results(app) == 1


async def test_a_result_five_minutes_ahead_is_still_accepted(api: Api, catalog: Catalog) -> None:
    ahead = datetime.now(UTC) + timedelta(minutes=4)
    assert await push(api, [row(catalog["monitor"]["id"], ahead, True)]) == 1


async def test_only_agents_and_admins_push_results(api: Api, db_url: str, catalog: Catalog) -> None:
    rows = hourly(catalog["monitor"]["id"], "2025-06-01 00:00", "2025-06-01 02:00")
    billing = await make_key(db_url, "billing")
    await api.call("POST", "/api/v1/results", json={"results": rows}, token=billing, expect=403)
    assert await push(api, rows, token=await make_key(db_url, "agent", locations=["local"])) == 2


async def test_agents_read_their_locations_monitors_with_an_etag(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    await make_monitor(
        api,
        catalog["service"]["id"],
        "db.acme.example:5432",
        kind="tcp",
        name="far",
        locations=["fra", "nyc"],
    )
    agent = await make_key(db_url, "agent", locations=["fra"])
    response = await api.call("GET", "/api/v1/agent/monitors?location=fra", token=agent, expect=200)
    assert [m["name"] for m in response.json()["items"]] == ["far"]
    assert response.json()["total"] == 1
    etag = response.headers["etag"]
    again = await api.client.get(
        "/api/v1/agent/monitors?location=fra",
        headers={**api.headers(agent), "If-None-Match": etag},
    )
    assert again.status_code == 304
    await api.call("GET", "/api/v1/agent/monitors?location=Bad Name", token=agent, expect=422)


# ------------------------------------------------------------------ figures


async def test_sla_figures_follow_the_worked_example(api: Api, catalog: Catalog) -> None:
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    figures = await sla(api, catalog["service"]["id"])
    # 44 min of 43,200: 43,156 / 43,200 = 99.8981... -> [99.0, 99.9) -> 10 % of 100.00.
    assert figures["timezone"] == "Europe/Berlin"
    assert figures["period_start"] == "2025-05-31T22:00:00Z"
    assert figures["period_end"] == "2025-06-30T22:00:00Z"
    assert figures["uptime_percent"] == "99.8981"
    assert figures["target_percent"] == "99.9"
    assert figures["downtime_seconds"] == 44 * 60
    assert figures["downtime_periods"] == [
        {"start": "2025-06-10T12:00:00Z", "end": "2025-06-10T12:44:00Z", "seconds": 2640}
    ]
    assert figures["coverage_percent"] == "100.0000"
    assert figures["breached"] is True
    assert figures["needs_review"] is False
    assert figures["credit_percent"] == "10"
    assert figures["credit_amount"] == "10.00"
    assert figures["currency"] == "USD"
    assert figures["status"] == "open"


async def test_arrival_order_and_batching_do_not_change_the_figures(
    api: Api, catalog: Catalog
) -> None:
    rows = june_with_44_minutes_down(catalog["monitor"]["id"])
    random.Random(7).shuffle(rows)
    for start in range(0, len(rows), 97):
        await push(api, rows[start : start + 97])
        # Reading between batches folds partial data; later batches re-fold it.
        await sla(api, catalog["service"]["id"])
    await push(api, rows[:50])  # duplicates again
    figures = await sla(api, catalog["service"]["id"])
    assert figures["uptime_percent"] == "99.8981"
    assert figures["downtime_seconds"] == 2640
    assert figures["credit_amount"] == "10.00"


async def test_missing_data_lowers_coverage_and_needs_review(api: Api, catalog: Catalog) -> None:
    # Results only from June 5 on: May 31 22:00 - June 5 00:00 has no data (4 d 2 h):
    # coverage = 1 - 5,880 / 43,200 min = 86.3888... %.
    await push(api, hourly(catalog["monitor"]["id"], "2025-06-05 00:00", "2025-07-01 00:00"))
    figures = await sla(api, catalog["service"]["id"])
    assert figures["no_data_seconds"] == 5_880 * 60
    assert figures["coverage_percent"] == "86.3888"
    assert figures["needs_review"] is True
    assert figures["uptime_percent"] == "100.0000"


async def test_announced_maintenance_excuses_downtime(api: Api, catalog: Catalog) -> None:
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    await api.create(
        "/api/v1/maintenance-windows",
        {
            "service_id": catalog["service"]["id"],
            "title": "planned",
            "starts_at": "2025-06-10T12:00:00Z",
            "ends_at": "2025-06-10T13:00:00Z",
            "announced_at": "2025-06-01T00:00:00Z",
        },
    )
    figures = await sla(api, catalog["service"]["id"])
    assert figures["downtime_seconds"] == 0
    assert figures["excused_seconds"] == 3600
    assert figures["breached"] is False


async def test_raising_confirmations_refolds_the_history(api: Api, catalog: Catalog) -> None:
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    assert (await sla(api, catalog["service"]["id"]))["downtime_seconds"] == 2640
    await api.call(
        "PATCH",
        f"/api/v1/monitors/{catalog['monitor']['id']}",
        json={"failure_confirmations": 2},
        expect=200,
    )
    # A single failed result is now a blip.
    assert (await sla(api, catalog["service"]["id"]))["downtime_seconds"] == 0


async def test_bad_month_is_a_422(api: Api, catalog: Catalog) -> None:
    for month in ("2025-13", "June", "2025-6"):
        response = await api.call(
            "GET", f"/api/v1/services/{catalog['service']['id']}/sla?month={month}", expect=422
        )
        assert "YYYY-MM" in response.text
        [error] = response.json()["detail"]
        assert (error["loc"], error["input"]) == (["query", "month"], month)
    credits = await api.call("GET", "/api/v1/credits?month=nope", expect=422)
    assert [e["loc"] for e in credits.json()["detail"]] == [["query", "month"]]
    close = await api.call("POST", "/api/v1/months/2025-99/close", expect=422)
    assert [e["loc"] for e in close.json()["detail"]] == [["path", "month"]]


# ------------------------------------------------------------------ credits


async def test_credits_list_every_service_as_json_and_csv(api: Api, catalog: Catalog) -> None:
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    page = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    assert page["month"] == "2025-06"
    assert (page["total"], page["limit"], page["offset"]) == (1, None, 0)
    [item] = page["items"]
    assert item["customer_slug"] == "acme"
    assert item["service_slug"] == "web"
    assert item["credit_amount"] == "10.00"
    assert item["uptime_percent"] == "99.8981"
    csv_by_accept = await api.call(
        "GET", "/api/v1/credits?month=2025-06", headers={"Accept": "text/csv"}, expect=200
    )
    csv_by_query = await api.call("GET", "/api/v1/credits?month=2025-06&format=csv", expect=200)
    assert csv_by_accept.text == csv_by_query.text
    assert csv_by_accept.headers["content-type"].startswith("text/csv")
    header, line = csv_by_accept.text.strip().split("\n")
    assert header.startswith("customer_id,customer_slug,service_id,service_slug,uptime_percent")
    assert ",acme," in line and ",99.8981," in line and ",10.00," in line


async def test_services_that_did_not_exist_in_the_month_are_not_listed(
    api: Api, catalog: Catalog
) -> None:
    page = (await api.call("GET", "/api/v1/credits?month=2024-06", expect=200)).json()
    assert page["items"] == [] and page["total"] == 0


# ------------------------------------------------------------------ closing


async def test_closed_month_is_frozen_and_late_data_is_an_adjustment(
    api: Api, app: Any, db_url: str, catalog: Catalog
) -> None:
    service_id = catalog["service"]["id"]
    await push(api, june_with_44_minutes_down(catalog["monitor"]["id"]))
    billing = await make_key(db_url, "billing")
    closed = await api.call("POST", "/api/v1/months/2025-06/close", token=billing, expect=200)
    assert closed.json() == {"month": "2025-06", "statements_written": 1, "already_closed": False}
    again = await api.call("POST", "/api/v1/months/2025-06/close", token=billing, expect=200)
    assert again.json()["statements_written"] == 0 and again.json()["already_closed"] is True

    before = await sla(api, service_id)
    assert before["status"] == "closed"
    assert before["adjustment"] is None
    assert len(before["statement_digest"]) == 64

    # Late data: failures every hour June 20 00:00 - 22 23:00 (they replace the
    # successes stored at the same instants) -> 3 days more down.
    await push(
        api, hourly(catalog["monitor"]["id"], "2025-06-20 00:00", "2025-06-23 00:00", ok=False)
    )
    after = await sla(api, service_id)
    for field in (
        "uptime_percent",
        "downtime_seconds",
        "credit_amount",
        "statement_digest",
        "downtime_periods",
    ):
        assert after[field] == before[field]
    # Now: 44 + 4,320 = 4,364 min down: 38,836 / 43,200 = 89.8981... -> 50 % -> 50.00.
    assert after["adjustment"]["uptime_percent"] == "89.8981"
    assert after["adjustment"]["credit_amount"] == "50.00"
    assert after["adjustment"]["credit_amount_delta"] == "40.00"
    page = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    assert page["items"][0]["credit_amount"] == "10.00"
    assert page["items"][0]["status"] == "closed"
    assert page["items"][0]["adjustment_credit_delta"] == "40.00"

    async with app.state.runtime.sessions() as session:
        statement = await session.scalar(select(Statement))
    assert statement is not None
    from app.reporting.statements import digest

    assert digest(statement.content) == statement.digest


async def test_a_month_that_has_not_ended_cannot_be_closed(api: Api, catalog: Catalog) -> None:
    this_month = datetime.now(UTC).strftime("%Y-%m")
    response = await api.call("POST", f"/api/v1/months/{this_month}/close", expect=409)
    assert "has not ended yet for customer 'acme'" in response.text


async def test_customers_and_agents_cannot_close_months(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    for scope, customer, locations in (("customer", "acme", ()), ("agent", None, ["local"])):
        token = await make_key(db_url, scope, customer, locations)
        await api.call("POST", "/api/v1/months/2025-06/close", token=token, expect=403)


# ------------------------------------------------------------------ isolation


async def test_customer_keys_read_only_their_own_figures(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    other_service = (await make_other_customer(api, catalog["policy"]["id"]))["service"]
    token = await make_key(db_url, "customer", "acme")
    own = await sla(api, catalog["service"]["id"], token=token)
    assert own["service_slug"] == "web"
    await api.call(
        "GET", f"/api/v1/services/{other_service['id']}/sla?month=2025-06", token=token, expect=404
    )
    page = (await api.call("GET", "/api/v1/credits?month=2025-06", token=token, expect=200)).json()
    assert [i["service_slug"] for i in page["items"]] == ["web"] and page["total"] == 1
    admin_page = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    assert sorted(i["service_slug"] for i in admin_page["items"]) == ["shop", "web"]
    assert admin_page["total"] == 2


@pytest.mark.parametrize(
    "body", [b"\xff", b"", b"[]", b'{"results": "x"}', b'{"results": []}', b"{" * 10_000]
)
async def test_garbage_result_bodies_are_a_422(api: Api, app: Any, body: bytes) -> None:
    response = await api.client.post(
        "/api/v1/results",
        content=body,
        headers={**api.headers("test-admin-token"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert await stored_results(app) == 0


async def test_a_huge_offset_is_a_422(api: Api) -> None:
    response = await api.call("GET", f"/api/v1/customers?offset={10**40}", expect=422)
    assert [e["loc"] for e in response.json()["detail"]] == [["query", "offset"]]


async def test_recent_results_show_errors_and_warnings_to_their_customer_only(
    api: Api, db_url: str, catalog: Catalog
) -> None:
    monitor_id = catalog["monitor"]["id"]
    rows = hourly(monitor_id, "2025-06-01 00:00", "2025-06-01 03:00")
    rows[1] = {**rows[1], "warning": "certificate expires in 5 days (warning below 14)"}
    rows[2] = {**rows[2], "ok": False, "error": "status 503", "status_code": 503}
    await push(api, rows)
    token = await make_key(db_url, "customer", "acme")
    page = await api.page(f"/api/v1/monitors/{monitor_id}/results?limit=2", token=token)
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    shown = page["items"]
    assert [r["checked_at"] for r in shown] == ["2025-06-01T02:00:00Z", "2025-06-01T01:00:00Z"]
    assert shown[0]["error"] == "status 503" and not shown[0]["ok"]
    assert shown[1]["warning"] == "certificate expires in 5 days (warning below 14)"
    await api.create("/api/v1/customers", {"slug": "globex", "name": "Globex"})
    other = await make_key(db_url, "customer", "globex")
    await api.call("GET", f"/api/v1/monitors/{monitor_id}/results", token=other, expect=404)


async def test_a_batch_colliding_in_the_middle_stores_everything_once(
    api: Api, app: Any, catalog: Catalog
) -> None:
    monitor_id = catalog["monitor"]["id"]
    first = hourly(monitor_id, "2025-06-01 00:00", "2025-06-01 03:00")  # 00, 01, 02
    await push(api, first)
    # New rows around a copy of 01:00 that now says "failed": the copy collides half-way
    # through the batch, and the failure must replace the stored success.
    second = [
        row(monitor_id, at("2025-06-01 03:00"), True),
        {**first[1], "ok": False, "error": "late failure"},
        row(monitor_id, at("2025-06-01 04:00"), True),
    ]
    assert await push(api, second) == 3
    async with app.state.runtime.sessions() as session:
        stored = {
            r.checked_at: r.ok
            for r in await session.scalars(
                select(CheckResult).where(CheckResult.monitor_id == monitor_id)
            )
        }
    hour = 3600
    base = int(at("2025-06-01 00:00").timestamp())
    assert stored == {
        base: True,
        base + hour: False,
        base + 2 * hour: True,
        base + 3 * hour: True,
        base + 4 * hour: True,
    }
