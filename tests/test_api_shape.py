"""One API shape: 422s in FastAPI's list form with a ``loc``, instants as whole-second
RFC 3339 with ``Z``, a monitor read that is a valid patch, and every list in the
``{items, total, limit, offset}`` envelope."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import Catalog, make_key
from tests.test_api_sla import hourly, push, row

RFC3339_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def locs(response: Any) -> list[list[str | int]]:
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    return [error["loc"] for error in detail]


# ---------------------------------------------------------------- 422s name the place


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("/api/v1/customers?limit=0", ["query", "limit"]),
        ("/api/v1/services?limit=1001", ["query", "limit"]),
        ("/api/v1/monitors?offset=-1", ["query", "offset"]),
        ("/api/v1/maintenance-windows?limit=x", ["query", "limit"]),
        ("/api/v1/sla-policies?offset=9223372036854775808", ["query", "offset"]),
        ("/api/v1/monitors/{monitor}/results?limit=1001", ["query", "limit"]),
        ("/api/v1/agent/monitors?location=local&limit=10001", ["query", "limit"]),
        ("/api/v1/credits?month=2025-06&limit=0", ["query", "limit"]),
        ("/api/v1/credits?month=2025-06&offset=-1", ["query", "offset"]),
        ("/api/v1/services/{service}/sla?month=2025-6", ["query", "month"]),
    ],
)
async def test_bad_query_parameters_are_named(
    api: Api, catalog: Catalog, query: str, loc: list[str]
) -> None:
    path = query.format(monitor=catalog["monitor"]["id"], service=catalog["service"]["id"])
    response = await api.call("GET", path, expect=422)
    assert locs(response) == [loc]


async def test_a_bad_month_in_the_path_is_named(api: Api) -> None:
    response = await api.call("POST", "/api/v1/months/2025-13/close", expect=422)
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "month"]
    assert error["input"] == "2025-13"
    assert "YYYY-MM" in error["msg"]


async def test_checks_made_by_handlers_name_the_field(api: Api, catalog: Catalog) -> None:
    service = catalog["service"]
    # ends_at before starts_at, which defaults to now
    body = {
        "customer_id": catalog["customer"]["id"],
        "name": "Mail",
        "slug": "mail",
        "policy_id": catalog["policy"]["id"],
        "monthly_fee": "1",
        "ends_at": "2020-01-01T00:00:00Z",
    }
    response = await api.call("POST", "/api/v1/services", json=body, expect=422)
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "ends_at"]
    assert error["input"] == "2020-01-01T00:00:00Z"
    # an announcement in the future
    response = await api.call(
        "POST",
        "/api/v1/maintenance-windows",
        json={
            "service_id": service["id"],
            "title": "w",
            "starts_at": "2099-01-02T00:00:00Z",
            "ends_at": "2099-01-02T01:00:00Z",
            "announced_at": "2099-01-01T00:00:00Z",
        },
        expect=422,
    )
    assert locs(response) == [["body", "announced_at"]]
    # a monitor's fixed fields
    path = f"/api/v1/monitors/{catalog['monitor']['id']}"
    for change in ({"kind": "tcp"}, {"service_id": service["id"] + 1}, {"id": 12345}):
        response = await api.call("PATCH", path, json=change, expect=422)
        [name] = change
        assert locs(response) == [["body", name]]
        assert "cannot be changed" in response.text
    assert await api.items("/api/v1/maintenance-windows") == []
    assert [s["slug"] for s in await api.items("/api/v1/services")] == ["web"]


# ---------------------------------------------------------------- instants


async def test_created_resources_carry_whole_seconds(api: Api, catalog: Catalog) -> None:
    service = await api.create(
        "/api/v1/services",
        {
            "customer_id": catalog["customer"]["id"],
            "name": "Mail",
            "slug": "mail",
            "policy_id": catalog["policy"]["id"],
            "monthly_fee": "1",
        },
    )
    assert RFC3339_SECONDS.match(service["starts_at"]), service
    read = await api.call("GET", f"/api/v1/services/{service['id']}", expect=200)
    assert read.json() == service  # what was stored is what was shown
    window = await api.create(
        "/api/v1/maintenance-windows",
        {
            "service_id": service["id"],
            "title": "w",
            "starts_at": "2030-01-05T02:00:00.750+01:00",  # a fraction is floored
            "ends_at": "2030-01-05T03:00:00.999999+01:00",
        },
    )
    assert window["starts_at"] == "2030-01-05T01:00:00Z"
    assert window["ends_at"] == "2030-01-05T02:00:00Z"
    for field in ("announced_at", "recorded_at"):
        assert RFC3339_SECONDS.match(window[field]), window
    # Sent back unchanged, the window is not moved, so it is not re-announced.
    path = f"/api/v1/maintenance-windows/{window['id']}"
    same = {k: window[k] for k in ("title", "starts_at", "ends_at")}
    again = await api.call("PATCH", path, json=same, expect=200)
    assert again.json() == window


async def test_the_heartbeat_reply_is_rfc3339(api: Api, catalog: Catalog) -> None:
    monitor = await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "backup",
            "kind": "heartbeat",
            "interval_seconds": 3600,
            "grace_seconds": 600,
        },
    )
    before = datetime.now(UTC).replace(microsecond=0)
    path = monitor["heartbeat_url"].removeprefix("http://uptally.test")
    reply = (await api.call("POST", path, token=None, expect=200)).json()
    assert reply["ok"] is True and reply["monitor_id"] == monitor["id"]
    assert RFC3339_SECONDS.match(reply["next_due_before"]), reply
    due = datetime.fromisoformat(reply["next_due_before"])
    # A ping stays fresh for interval + grace (4,200 s, rounded up to an even number).
    assert 4200 <= (due - before).total_seconds() <= 4202


# ---------------------------------------------------------------- a read is a patch


async def test_a_monitor_read_sent_back_as_a_patch_changes_nothing(
    api: Api, catalog: Catalog
) -> None:
    created = await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "api",
            "kind": "http",
            "target": "https://api.acme.example/health",
            "expected_status": [200, 204],
            "keyword": "ok",
            "headers": {"X-Probe": "uptally"},
            "locations": ["fra", "nyc"],
            "quorum": 2,
        },
    )
    beat = await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "cron",
            "kind": "heartbeat",
            "interval_seconds": 3600,
            "grace_seconds": 60,
        },
    )
    for monitor in (created, beat, catalog["monitor"]):
        path = f"/api/v1/monitors/{monitor['id']}"
        read = (await api.call("GET", path, expect=200)).json()
        patched = await api.call("PATCH", path, json=read, expect=200)
        assert patched.json() == read
        assert (await api.call("GET", path, expect=200)).json() == read


async def test_a_read_with_edited_options_is_a_patch(api: Api, catalog: Catalog) -> None:
    path = f"/api/v1/monitors/{catalog['monitor']['id']}"
    read = (await api.call("GET", path, expect=200)).json()
    edited = copy.deepcopy(read)
    edited["options"] = {"keyword": "Welcome", "expected_status": [200]}
    edited["interval_seconds"] = 120
    patched = (await api.call("PATCH", path, json=edited, expect=200)).json()
    assert patched["options"] == {"expected_status": [200], "keyword": "Welcome"}
    assert patched["interval_seconds"] == 120
    # `options` replaces the set; a top-level option is applied over it (null removes).
    replaced = await api.call(
        "PATCH", path, json={"options": {"keyword": "Hi"}, "expected_status": None}, expect=200
    )
    assert replaced.json()["options"] == {"keyword": "Hi"}
    # The same option given twice, differently, is refused and names the field.
    both = await api.call(
        "PATCH", path, json={"options": {"keyword": "a"}, "keyword": "b"}, expect=422
    )
    assert locs(both) == [["body", "keyword"]]
    # Options are checked merged, like every create rule.
    wrong_kind = await api.call("PATCH", path, json={"options": {"grace_seconds": 5}}, expect=422)
    assert "grace_seconds do(es) not apply to http" in wrong_kind.text
    assert (await api.call("GET", path, expect=200)).json()["options"] == {"keyword": "Hi"}


async def test_the_monitor_patch_body_is_documented(api: Api) -> None:
    schema = (await api.call("GET", "/openapi.json", token=None, expect=200)).json()
    body = schema["paths"]["/api/v1/monitors/{monitor_id}"]["patch"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    patch = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    properties = set(patch["properties"])
    read = schema["components"]["schemas"]["MonitorRead"]["properties"]
    assert set(read) <= properties  # every field of a read
    assert {"name", "target", "interval_seconds", "locations", "quorum", "enabled"} <= properties
    assert {"keyword", "expected_status", "record_type", "grace_seconds"} <= properties
    assert patch.get("additionalProperties") is False
    assert "required" not in patch


# ---------------------------------------------------------------- list envelopes


async def test_lists_page_with_a_total_under_their_filters(api: Api, catalog: Catalog) -> None:
    customer_id, policy_id = catalog["customer"]["id"], catalog["policy"]["id"]
    other = await api.create("/api/v1/customers", {"slug": "globex", "name": "Globex"})
    for owner, slug in ((customer_id, "mail"), (customer_id, "dns"), (other["id"], "shop")):
        await api.create(
            "/api/v1/services",
            {
                "customer_id": owner,
                "name": slug,
                "slug": slug,
                "policy_id": policy_id,
                "monthly_fee": "1",
            },
        )
    page = await api.page(f"/api/v1/services?customer_id={customer_id}&limit=2&offset=1")
    assert [s["slug"] for s in page["items"]] == ["mail", "dns"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    beyond = await api.page("/api/v1/services?offset=10")
    assert beyond["items"] == [] and beyond["total"] == 4
    assert (await api.page("/api/v1/customers?limit=1"))["total"] == 2
    assert (await api.page("/api/v1/sla-policies"))["total"] == 1
    default = await api.page("/api/v1/monitors?service_id=" + str(catalog["service"]["id"]))
    assert (default["total"], default["limit"], default["offset"]) == (1, 100, 0)
    empty = await api.page("/api/v1/maintenance-windows?service_id=999")
    assert empty == {"items": [], "total": 0, "limit": 100, "offset": 0}


async def test_results_page_with_a_total_per_location(api: Api, catalog: Catalog) -> None:
    monitor_id = catalog["monitor"]["id"]
    await api.call(
        "PATCH", f"/api/v1/monitors/{monitor_id}", json={"locations": ["local", "fra"]}, expect=200
    )
    rows = hourly(monitor_id, "2025-06-01 00:00", "2025-06-01 05:00")  # 5 at local
    rows += [{**r, "location": "fra"} for r in rows[:3]]
    await push(api, rows)
    path = f"/api/v1/monitors/{monitor_id}/results"
    assert (await api.page(path))["total"] == 8
    page = await api.page(f"{path}?location=fra&limit=1&offset=1")
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    assert [(r["location"], r["checked_at"]) for r in page["items"]] == [
        ("fra", "2025-06-01T01:00:00Z")
    ]


async def test_agent_monitors_page_under_one_etag(api: Api, db_url: str, catalog: Catalog) -> None:
    ids = [
        (
            await api.create(
                "/api/v1/monitors",
                {
                    "service_id": catalog["service"]["id"],
                    "name": f"db{n}",
                    "kind": "tcp",
                    "target": f"db{n}.acme.example:5432",
                    "locations": ["fra"],
                },
            )
        )["id"]
        for n in range(3)
    ]
    agent = await make_key(db_url, "agent", locations=["fra"])
    path = "/api/v1/agent/monitors?location=fra&limit=2"
    first = await api.call("GET", path, token=agent, expect=200)
    second = await api.call("GET", f"{path}&offset=2", token=agent, expect=200)
    assert first.json()["total"] == second.json()["total"] == 3
    assert [m["id"] for m in first.json()["items"] + second.json()["items"]] == ids
    etag = first.headers["etag"]
    assert second.headers["etag"] == etag  # the version of the whole list
    unchanged = await api.client.get(path, headers={**api.headers(agent), "If-None-Match": etag})
    assert unchanged.status_code == 304
    await api.call("PATCH", f"/api/v1/monitors/{ids[2]}", json={"name": "db-two"}, expect=200)
    changed = await api.client.get(path, headers={**api.headers(agent), "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_credits_page_beside_the_month(api: Api, catalog: Catalog) -> None:
    await api.create(
        "/api/v1/services",
        {
            "customer_id": catalog["customer"]["id"],
            "name": "Mail",
            "slug": "mail",
            "policy_id": catalog["policy"]["id"],
            "monthly_fee": "5",
            "starts_at": "2025-01-01T00:00:00Z",
        },
    )
    await push(api, [row(catalog["monitor"]["id"], datetime(2025, 6, 3, tzinfo=UTC), True)])
    everything = (await api.call("GET", "/api/v1/credits?month=2025-06", expect=200)).json()
    assert [i["service_slug"] for i in everything["items"]] == ["web", "mail"]
    assert (everything["total"], everything["limit"], everything["offset"]) == (2, None, 0)
    page = (
        await api.call("GET", "/api/v1/credits?month=2025-06&limit=1&offset=1", expect=200)
    ).json()
    assert page["month"] == "2025-06"
    assert [i["service_slug"] for i in page["items"]] == ["mail"]
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 1)
    assert page["items"][0] == everything["items"][1]
    csv = await api.call("GET", "/api/v1/credits?month=2025-06&format=csv&limit=1", expect=200)
    _header, *lines = csv.text.strip().split("\n")
    assert len(lines) == 1 and ",web," in lines[0]
