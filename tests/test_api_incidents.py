"""Support calendars, support targets, incidents and monthly compliance through the
API, on both databases (API_CONTRACT.md "Support and incidents").

The catalog fixture's customer "acme" is in Europe/Berlin (UTC+2 in June 2025): its
office calendar below is 09:00-17:00 Berlin = 07:00-15:00 UTC, Monday to Friday.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, Api
from tests.helpers import Catalog, make_key, make_other_customer

OFFICE = {
    "name": "Berlin office",
    "timezone": "Europe/Berlin",
    "hours": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2025-06-09"],
}


async def with_targets(api: Api, catalog: Catalog, **extra: Any) -> dict[str, Any]:
    """The office calendar, and the catalog's policy with P1 (24/7) and P3 (office)."""
    calendar = await api.create("/api/v1/support-calendars", OFFICE)
    targets = [
        {"priority": "P1", "respond_minutes": 15, "resolve_minutes": 240},
        {"priority": "P3", "respond_minutes": 240, "resolve_minutes": 960,
         "calendar_id": calendar["id"]},
    ]  # fmt: skip
    response = await api.call(
        "PATCH",
        f"/api/v1/sla-policies/{catalog['policy']['id']}",
        json={"support_targets": targets, **extra},
        expect=200,
    )
    policy: dict[str, Any] = response.json()
    return {"calendar": calendar, "policy": policy}


async def open_incident(
    api: Api, service_id: int, priority: str, opened_at: str | None = None, **kw: Any
) -> dict[str, Any]:
    body = {"service_id": service_id, "title": "trouble", "priority": priority}
    if opened_at is not None:
        body["opened_at"] = opened_at
    response = await api.call("POST", "/api/v1/incidents", json=body, **kw)
    data: dict[str, Any] = response.json()
    return data


async def event(
    api: Api, incident_id: int, kind: str, at: str | None = None, expect: int = 201, **body: Any
) -> dict[str, Any]:
    token = body.pop("token", ADMIN_TOKEN)
    if at is not None:
        body["at"] = at
    response = await api.call(
        "POST", f"/api/v1/incidents/{incident_id}/events", json={"kind": kind, **body},
        expect=expect, token=token,
    )  # fmt: skip
    data: dict[str, Any] = response.json()
    return data


async def incident(api: Api, incident_id: int, **kw: Any) -> dict[str, Any]:
    response = await api.call("GET", f"/api/v1/incidents/{incident_id}", expect=200, **kw)
    data: dict[str, Any] = response.json()
    return data


# --- calendars and targets ---------------------------------------------------------------


async def test_a_calendar_is_stored_and_read_back(api: Api) -> None:
    body = {**OFFICE, "hours": {"mon": [["13:00", "17:00"], ["09:00", "12:00"]]},
            "holidays": ["2025-12-26", "2025-12-25", "2025-12-25"]}  # fmt: skip
    created = await api.create("/api/v1/support-calendars", body)
    assert created["hours"] == {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}
    assert created["holidays"] == ["2025-12-25", "2025-12-26"]
    assert (await api.items("/api/v1/support-calendars")) == [created]
    read = await api.call("GET", f"/api/v1/support-calendars/{created['id']}", expect=200)
    assert read.json() == created


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"hours": {"mon": [["09:00", "25:00"]]}}, ["body", "hours", "mon", 0, 1],
         "should match pattern"),
        ({"hours": {"mon": [["17:00", "09:00"]]}}, ["body", "hours"], "ends before it starts"),
        ({"hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, ["body", "hours"],
         "overlap"),
        ({"hours": {"monday": [["09:00", "17:00"]]}}, ["body", "hours", "monday"],
         "Extra inputs are not permitted"),
        ({"hours": {"mon": [["09:00"]]}}, ["body", "hours", "mon", 0], "at least 2"),
        ({"timezone": "Mars/Olympus"}, ["body", "timezone"], "IANA"),
        ({"holidays": ["2025-02-30"]}, ["body", "holidays"], "YYYY-MM-DD"),
        ({"name": ""}, ["body", "name"], "at least 1"),
    ],
)  # fmt: skip
async def test_bad_calendars_are_a_422_naming_the_field(
    api: Api, change: dict[str, Any], loc: list[Any], words: str
) -> None:
    response = await api.call("POST", "/api/v1/support-calendars", json={**OFFICE, **change})
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert issue["loc"] == loc and words in issue["msg"], issue
    assert await api.items("/api/v1/support-calendars") == []


async def test_a_patched_calendar_is_checked_whole(api: Api) -> None:
    created = await api.create("/api/v1/support-calendars", OFFICE)
    path = f"/api/v1/support-calendars/{created['id']}"
    response = await api.call("PATCH", path, json={"hours": {"tue": [["18:00", "08:00"]]}})
    assert response.status_code == 422 and "ends before" in response.text
    patched = await api.call("PATCH", path, json={"holidays": []}, expect=200)
    assert patched.json()["holidays"] == [] and patched.json()["hours"] == created["hours"]


async def test_policies_take_support_targets(api: Api, catalog: Catalog) -> None:
    found = await with_targets(api, catalog, support_compliance_target_percent="97.5")
    policy = found["policy"]
    assert policy["support_compliance_target_percent"] == "97.5"
    assert [t["priority"] for t in policy["support_targets"]] == ["P1", "P3"]
    assert policy["support_targets"][0]["calendar_id"] is None
    # Defaults for a new policy: no targets, 95 %.
    fresh = await api.create(
        "/api/v1/sla-policies",
        {"name": "x", "target_percent": "99", "credit_tiers": [
            {"from_percent": "0", "to_percent": "99", "credit_percent": "10"}]},
    )  # fmt: skip
    assert fresh["support_targets"] == [] and fresh["support_compliance_target_percent"] == "95"
    # The calendar is in use: it cannot go.
    path = f"/api/v1/support-calendars/{found['calendar']['id']}"
    response = await api.call("DELETE", path, expect=409)
    assert "used by SLA policy" in response.json()["detail"]
    # ... and the uptime figures are computed as before.
    month = await api.call("GET", f"/api/v1/services/{catalog['service']['id']}/sla?month=2025-06")
    assert month.status_code == 200 and month.json()["credit_amount"] == "0.00"


@pytest.mark.parametrize(
    ("targets", "loc", "words"),
    [
        ([{"priority": "P1", "respond_minutes": 15, "resolve_minutes": 60, "calendar_id": 999}],
         ["body", "support_targets", 0, "calendar_id"], "does not exist"),
        ([{"priority": "P5", "respond_minutes": 15, "resolve_minutes": 60}],
         ["body", "support_targets", 0, "priority"], "P1"),
        ([{"priority": "P1", "respond_minutes": 0, "resolve_minutes": 60}],
         ["body", "support_targets", 0, "respond_minutes"], "greater than or equal to 1"),
        ([{"priority": "P1", "respond_minutes": 15, "resolve_minutes": 60}] * 2,
         ["body", "support_targets"], "more than one target"),
    ],
)  # fmt: skip
async def test_bad_support_targets_are_a_422(
    api: Api, catalog: Catalog, targets: list[dict[str, Any]], loc: list[Any], words: str
) -> None:
    path = f"/api/v1/sla-policies/{catalog['policy']['id']}"
    response = await api.call("PATCH", path, json={"support_targets": targets})
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert issue["loc"] == loc and words in issue["msg"], issue
    stored = await api.call("GET", path, expect=200)
    assert stored.json()["support_targets"] == []


# --- incidents ------------------------------------------------------------------------


async def test_an_imported_incident_and_its_clocks(api: Api, catalog: Catalog) -> None:
    await with_targets(api, catalog)
    service_id = catalog["service"]["id"]
    # P3, opened Friday 13 June 16:00 Berlin, acknowledged Monday 09:30 Berlin:
    # 60 + 30 = 90 office minutes of 240 -> met; due Mon 09:00 + 180 = 12:00 Berlin.
    created = await open_incident(api, service_id, "P3", "2025-06-13T14:00:00Z", expect=201)
    assert created["source"] == "operator" and created["imported"] is True
    assert created["state"] == "open" and created["events"] == []
    ack = await event(api, created["id"], "acknowledge", "2025-06-16T07:30:00Z")
    assert ack["kind"] == "acknowledge" and ack["imported"] is True
    await event(api, created["id"], "comment", "2025-06-16T07:31:00Z",
                message="Looking into it", public=True)  # fmt: skip
    # Waiting on the customer Mon 10:00-14:00 Berlin, resolved Tue 10:00 Berlin:
    # resolution = Fri 60 + Mon (09:00-10:00 = 60, 14:00-17:00 = 180) + Tue 60 = 360.
    await event(api, created["id"], "pause", "2025-06-16T08:00:00Z")
    await event(api, created["id"], "resume", "2025-06-16T12:00:00Z")
    await event(api, created["id"], "resolve", "2025-06-17T08:00:00Z")
    found = await incident(api, created["id"])
    assert found["state"] == "resolved"
    assert found["acknowledged_at"] == "2025-06-16T07:30:00Z"
    assert found["resolved_at"] == "2025-06-17T08:00:00Z"
    assert found["respond"] == {
        "target_minutes": 240,
        "elapsed_seconds": 90 * 60,
        "due_at": "2025-06-16T10:00:00Z",
        "met": True,
    }
    # Due: 960 office minutes with the pause: Fri 60, Mon 240, Tue 480 -> 780, Wed
    # 09:00 + 180 = 12:00 Berlin = 10:00Z.
    assert found["resolve"] == {
        "target_minutes": 960,
        "elapsed_seconds": 360 * 60,
        "due_at": "2025-06-18T10:00:00Z",
        "met": True,
    }
    assert [e["kind"] for e in found["events"]] == [
        "acknowledge", "comment", "pause", "resume", "resolve"]  # fmt: skip
    assert found["restore_seconds"] is None and found["customer_id"] == catalog["customer"]["id"]


async def test_a_raised_priority_may_be_breached_at_once(api: Api, catalog: Catalog) -> None:
    await with_targets(api, catalog)
    created = await open_incident(
        api, catalog["service"]["id"], "P3", "2025-06-16T08:00:00Z", expect=201
    )
    # Raised to P1 an hour later: 15 minutes 24/7 from the original start -> breached.
    await event(api, created["id"], "priority", "2025-06-16T09:00:00Z", priority="P1")
    found = await incident(api, created["id"])
    assert found["priority"] == "P1"
    assert found["respond"]["met"] is False
    assert found["respond"]["due_at"] == "2025-06-16T08:15:00Z"


async def test_an_incident_without_a_target_has_no_verdict(api: Api, catalog: Catalog) -> None:
    created = await open_incident(api, catalog["service"]["id"], "P2", expect=201)
    assert created["source"] == "operator" and created["imported"] is False
    assert created["respond"]["target_minutes"] is None and created["respond"]["met"] is None


@pytest.mark.parametrize(
    ("body", "status", "loc", "words"),
    [
        ({"kind": "acknowledge", "at": "2025-06-16T07:59:00Z"}, 422, ["body", "at"],
         "before its latest event (comment) at 2025-06-16T08:00:00Z"),
        ({"kind": "escalate"}, 422, ["body", "kind"], "acknowledge"),
        ({"kind": "priority"}, 422, ["body"], "needs priority"),
        ({"kind": "priority", "priority": "P9"}, 422, ["body", "priority"], "P1"),
        ({"kind": "comment"}, 422, ["body"], "needs a message"),
        ({"kind": "pause", "public": True}, 422, ["body"], "only comments can be public"),
        ({"kind": "acknowledge", "at": "2999-01-01T00:00:00Z"}, 422, ["body", "at"], "future"),
        ({"kind": "acknowledge", "at": "yesterday"}, 422, ["body", "at"], None),
        ({"kind": "resume"}, 409, None, "only a paused incident can be resumed"),
        ({"kind": "reopen"}, 409, None, "only a resolved incident"),
    ],
)  # fmt: skip
async def test_bad_events_are_refused_and_change_nothing(
    api: Api, catalog: Catalog, body: dict[str, Any], status: int, loc: list[Any] | None,
    words: str | None,
) -> None:  # fmt: skip
    created = await open_incident(
        api, catalog["service"]["id"], "P1", "2025-06-16T07:00:00Z", expect=201
    )
    await event(api, created["id"], "comment", "2025-06-16T08:00:00Z", message="first")
    before = await incident(api, created["id"])
    path = f"/api/v1/incidents/{created['id']}/events"
    response = await api.call("POST", path, json=body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    if loc is not None:
        [issue] = detail
        assert issue["loc"] == loc, issue
        assert words is None or words in issue["msg"], issue
    else:
        assert words is not None and words in detail
    # (Its clocks run on: compare what is stored.)
    after = await incident(api, created["id"])
    for doc in (before, after):
        doc.pop("respond"), doc.pop("resolve")
    assert after == before


async def test_a_second_acknowledgement_is_a_409(api: Api, catalog: Catalog) -> None:
    created = await open_incident(api, catalog["service"]["id"], "P1", expect=201)
    await event(api, created["id"], "acknowledge")
    response = await event(api, created["id"], "acknowledge", expect=409)
    assert "already acknowledged" in response["detail"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"priority": "P7"}, ["body", "priority"]),
        ({"priority": "high"}, ["body", "priority"]),
        ({"opened_at": "2999-01-01T00:00:00Z"}, ["body", "opened_at"]),
        ({"opened_at": "not a time"}, ["body", "opened_at"]),
        ({"title": ""}, ["body", "title"]),
        ({"service_id": 0}, ["body", "service_id"]),
        ({"source": "monitor"}, ["body", "source"]),
    ],
)
async def test_bad_incidents_are_a_422_naming_the_field(
    api: Api, catalog: Catalog, body: dict[str, Any], loc: list[Any]
) -> None:
    good = {"service_id": catalog["service"]["id"], "title": "x", "priority": "P1"}
    response = await api.call("POST", "/api/v1/incidents", json={**good, **body})
    assert response.status_code == 422, response.text
    assert [issue["loc"] for issue in response.json()["detail"]] == [loc]
    assert await api.items("/api/v1/incidents") == []


async def test_keep_open_and_title_are_patched_by_admins(
    api: Api, catalog: Catalog, db_url: str
) -> None:
    created = await open_incident(api, catalog["service"]["id"], "P1", expect=201)
    path = f"/api/v1/incidents/{created['id']}"
    patched = await api.call("PATCH", path, json={"keep_open": True, "title": "DB"}, expect=200)
    assert patched.json()["keep_open"] is True and patched.json()["title"] == "DB"
    customer = await make_key(db_url, "customer", "acme")
    await api.call("PATCH", path, json={"keep_open": False}, token=customer, expect=403)


# --- tenancy ------------------------------------------------------------------------


async def test_customer_keys_see_and_open_only_their_own(
    api: Api, catalog: Catalog, db_url: str
) -> None:
    other = await make_other_customer(api, catalog["policy"]["id"])
    acme = await make_key(db_url, "customer", "acme")
    globex = await make_key(db_url, "customer", "globex")
    billing = await make_key(db_url, "billing")
    mine = await open_incident(api, catalog["service"]["id"], "P2", token=acme, expect=201)
    assert mine["source"] == "customer"
    theirs = await open_incident(api, other["service"]["id"], "P2", token=globex, expect=201)
    # Not on another customer's service (404: it does not exist for this key).
    await open_incident(api, other["service"]["id"], "P2", token=acme, expect=404)
    # Reading: own only.
    assert [i["id"] for i in await api.items("/api/v1/incidents", token=acme)] == [mine["id"]]
    listed = await api.items(f"/api/v1/incidents?customer_id={other['customer']['id']}", token=acme)
    assert listed == []
    await api.call("GET", f"/api/v1/incidents/{theirs['id']}", token=acme, expect=404)
    await event(api, theirs["id"], "comment", message="hi", token=acme, expect=404)
    support = f"/api/v1/customers/{other['customer']['id']}/support?month=2025-06"
    await api.call("GET", support, token=acme, expect=404)
    # Acknowledging is the provider's; so are other events and public comments.
    refused = await event(api, mine["id"], "acknowledge", token=acme, expect=403)
    assert "admin" in refused["detail"]
    await event(api, mine["id"], "resolve", token=acme, expect=403)
    await event(api, mine["id"], "comment", message="x", public=True, token=acme, expect=403)
    comment = await event(api, mine["id"], "comment", message="still broken", token=acme)
    assert comment["actor"].startswith("key:") and comment["public"] is False
    # Importing history is admin-only.
    response = await open_incident(
        api, catalog["service"]["id"], "P2", "2025-06-01T00:00:00Z", token=acme
    )
    assert "only admins" in response["detail"]
    # Billing reads everything but opens nothing.
    assert len(await api.items("/api/v1/incidents", token=billing)) == 2
    await open_incident(api, catalog["service"]["id"], "P2", token=billing, expect=403)
    assert len(await api.items("/api/v1/incidents")) == 2
    # A service with incidents cannot be deleted (their history would go with it).
    gone = await api.call("DELETE", f"/api/v1/services/{other['service']['id']}", expect=409)
    assert "still has incidents" in gone.json()["detail"]


# --- compliance -----------------------------------------------------------------------


async def test_monthly_compliance(api: Api, catalog: Catalog, db_url: str) -> None:
    await with_targets(api, catalog, support_compliance_target_percent="75")
    service_id = catalog["service"]["id"]

    async def history(priority: str, opened: str, *events: tuple[str, str]) -> int:
        created = await open_incident(api, service_id, priority, opened, expect=201)
        for kind, at in events:
            await event(api, created["id"], kind, at)
        return int(created["id"])

    # P1 (15 / 240 min, 24/7): answered in 10 (met), resolved in 120 (met).
    await history(
        "P1",
        "2025-06-02T08:00:00Z",
        ("acknowledge", "2025-06-02T08:10:00Z"),
        ("resolve", "2025-06-02T10:00:00Z"),
    )
    # P1: answered in 20 (missed), resolved in 60 (met).
    await history(
        "P1",
        "2025-06-03T08:00:00Z",
        ("acknowledge", "2025-06-03T08:20:00Z"),
        ("resolve", "2025-06-03T09:00:00Z"),
    )
    # P3 (240 / 960 office minutes): Fri 16:00 Berlin, answered Mon 09:30 Berlin: 90
    # (met); never resolved, long past its 960 minutes (missed).
    await history("P3", "2025-06-13T14:00:00Z", ("acknowledge", "2025-06-16T07:30:00Z"))
    # P3 opened 30 June 23:00 Berlin (still June there): never answered (missed twice).
    await history("P3", "2025-06-30T21:00:00Z")
    # P4 has no target: never evaluated. Opened 1 June 00:30 Berlin (31 May in UTC).
    await history("P4", "2025-05-31T22:30:00Z")
    # 1 July 00:30 Berlin: July's.
    await history("P1", "2025-06-30T22:30:00Z")

    path = f"/api/v1/customers/{catalog['customer']['id']}/support?month=2025-06"
    found = (await api.call("GET", path, expect=200)).json()
    assert found["customer_id"] == catalog["customer"]["id"] and found["month"] == "2025-06"
    assert found["target_percent"] == "75"
    # respond: met 2 of 4; resolve: met 2 of 4 -> 50 % each, below 75.
    assert found["respond"] == {"evaluated": 4, "met": 2, "percent": "50.0000", "passing": False}
    assert found["resolve"] == {"evaluated": 4, "met": 2, "percent": "50.0000", "passing": False}
    by = {row["priority"]: row for row in found["by_priority"]}
    assert list(by) == ["P1", "P2", "P3", "P4"]
    assert by["P1"]["respond"]["met"] == 1 and by["P1"]["resolve"]["percent"] == "100.0000"
    assert by["P1"]["resolve"]["passing"] is True
    assert by["P3"]["resolve"] == {"evaluated": 2, "met": 0, "percent": "0.0000", "passing": False}
    assert by["P4"]["respond"] == {"evaluated": 0, "met": 0, "percent": None, "passing": None}
    # The customer reads its own; the month filter lists the same five incidents.
    acme = await make_key(db_url, "customer", "acme")
    assert (await api.call("GET", path, token=acme, expect=200)).json() == found
    june = await api.page("/api/v1/incidents?month=2025-06", token=acme)
    assert june["total"] == 5
    assert [i["priority"] for i in june["items"]] == ["P4", "P1", "P1", "P3", "P3"]
    resolved = await api.items("/api/v1/incidents?state=resolved")
    assert len(resolved) == 2
    await api.call("GET", path.replace("2025-06", "2025-13"), expect=422)
