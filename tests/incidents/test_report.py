"""What the monthly report and the status page read of incidents (app.incidents.report),
on both databases: the month's incidents, the open ones, and public comments only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.incidents.report import month_incidents, month_support, open_incidents
from app.sla.periods import Month
from tests.conftest import Api
from tests.helpers import Catalog

NOW = datetime(2025, 7, 10, tzinfo=UTC)


async def post(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return await api.create(path, body)


async def test_month_and_open_incidents_with_public_comments_only(
    api: Api, app: Any, catalog: Catalog
) -> None:
    service_id, customer_id = catalog["service"]["id"], catalog["customer"]["id"]
    body = {"service_id": service_id, "priority": "P2"}
    june = await post(api, "/api/v1/incidents",
                      {**body, "title": "June", "opened_at": "2025-06-20T10:00:00Z"})  # fmt: skip
    events = f"/api/v1/incidents/{june['id']}/events"
    await post(api, events, {"kind": "comment", "at": "2025-06-20T10:05:00Z",
                             "message": "root cause: disk", "public": False})  # fmt: skip
    await post(api, events, {"kind": "comment", "at": "2025-06-20T10:06:00Z",
                             "message": "We are on it", "public": True})  # fmt: skip
    await post(api, events, {"kind": "resolve", "at": "2025-06-20T11:00:00Z"})
    # 1 July 01:00 Berlin: July's, and still open.
    july = await post(api, "/api/v1/incidents",
                      {**body, "title": "July", "opened_at": "2025-06-30T23:00:00Z"})  # fmt: skip

    async with app.state.runtime.sessions() as session:
        full = await month_incidents(session, customer_id, Month(2025, 6), NOW)
        public = await month_incidents(session, customer_id, Month(2025, 6), NOW, public_only=True)
        still_open = await open_incidents(session, customer_id, NOW, public_only=True)
        support = await month_support(session, customer_id, Month(2025, 6), NOW)
    [doc] = full
    assert doc["id"] == june["id"] and doc["state"] == "resolved"
    assert [e["kind"] for e in doc["events"]] == ["comment", "comment", "resolve"]
    [shown] = public
    assert shown["events"] == [
        {"id": shown["events"][0]["id"], "kind": "comment", "at": "2025-06-20T10:06:00Z",
         "priority": None, "message": "We are on it", "public": True, "automatic": False},
    ]  # fmt: skip
    assert [i["id"] for i in still_open] == [july["id"]]
    # No targets in the catalog's policy: nothing is evaluated.
    assert support.as_dict()["respond"] == {
        "evaluated": 0, "met": 0, "percent": None, "passing": None}  # fmt: skip
    assert support.as_dict()["target_percent"] == "95"
