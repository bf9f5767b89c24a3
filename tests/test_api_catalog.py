"""The admin API for the catalog: create, list, read, update, delete, and validation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import TIERS


async def _count(api: Api, path: str) -> int:
    page = await api.page(path)
    assert len(page["items"]) == page["total"]  # a few rows: all on the first page
    total: int = page["total"]
    return total


# ---------------------------------------------------------------- customers


async def test_customer_round_trip(api: Api) -> None:
    created = await api.create("/api/v1/customers", {"slug": "acme", "name": "Acme Ltd"})
    assert created["timezone"] == "UTC"
    read = await api.call("GET", f"/api/v1/customers/{created['id']}", expect=200)
    assert read.json() == created
    patched = await api.call(
        "PATCH",
        f"/api/v1/customers/{created['id']}",
        json={"timezone": "America/New_York"},
        expect=200,
    )
    assert patched.json()["timezone"] == "America/New_York"
    assert patched.json()["slug"] == "acme"
    await api.call("DELETE", f"/api/v1/customers/{created['id']}", expect=204)
    await api.call("GET", f"/api/v1/customers/{created['id']}", expect=404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "Acme!", "name": "x"}, "slug"),
        ({"slug": "-acme", "name": "x"}, "slug"),
        ({"slug": "acme", "name": ""}, "name"),
        ({"slug": "acme", "name": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ({"slug": "acme", "name": "x", "timezone": "CEST"}, "timezone"),
        ({"slug": "acme", "name": "x", "colour": "red"}, "colour"),
        ({"name": "x"}, "slug"),
    ],
)
async def test_bad_customer_is_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = await api.call("POST", "/api/v1/customers", json=body, expect=422)
    assert field in response.text
    assert await _count(api, "/api/v1/customers") == 0


async def test_duplicate_customer_slug_is_a_conflict(api: Api) -> None:
    await api.create("/api/v1/customers", {"slug": "acme", "name": "Acme"})
    response = await api.call(
        "POST", "/api/v1/customers", json={"slug": "acme", "name": "Other"}, expect=409
    )
    assert "acme" in response.json()["detail"]
    assert await _count(api, "/api/v1/customers") == 1


async def test_malformed_json_is_a_422_not_a_500(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/customers",
        content=b'{"slug": "acme", ',
        headers={**api.headers("test-admin-token"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


async def test_customer_with_services_cannot_be_deleted(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    customer_id = catalog["customer"]["id"]
    response = await api.call("DELETE", f"/api/v1/customers/{customer_id}", expect=409)
    assert "services" in response.json()["detail"]
    await api.call("GET", f"/api/v1/customers/{customer_id}", expect=200)


# ---------------------------------------------------------------- SLA policies


async def test_policy_defaults_follow_the_contract(api: Api) -> None:
    policy = await api.create(
        "/api/v1/sla-policies", {"name": "Std", "target_percent": "99.9", "credit_tiers": TIERS}
    )
    assert policy["target_percent"] == "99.9"
    assert policy["credit_formula"] == "tiered"
    assert policy["hourly_multiplier"] == "1"
    assert policy["percent_per_hour"] == "0"
    assert policy["credit_cap_percent"] == "100"
    assert policy["min_credit_amount"] == "0.00"
    assert policy["prorate_fee"] is True
    assert policy["min_downtime_seconds"] == 60
    assert policy["maintenance_notice_seconds"] == 86400
    assert policy["maintenance_policy"] == "not_downtime"
    assert policy["no_data_policy"] == "up"
    assert policy["existence_policy"] == "existence_window"
    # Tiers come back sorted, as decimal strings.
    assert [t["from_percent"] for t in policy["credit_tiers"]] == ["0", "95", "99"]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], "none were given"),
        (TIERS[:2], "lowest tier starts at 95"),
        (
            [*TIERS[1:], {"from_percent": "98.0", "to_percent": "99.9", "credit_percent": "10"}],
            "overlap",
        ),
        (
            [*TIERS[1:], {"from_percent": "99.5", "to_percent": "99.9", "credit_percent": "10"}],
            "no tier covers [99.0, 99.5)",
        ),
        (
            [*TIERS[1:], {"from_percent": "99.0", "to_percent": "99.95", "credit_percent": "10"}],
            "must end at the target 99.9",
        ),
        (
            [*TIERS[1:], {"from_percent": "99.0", "to_percent": "99.0", "credit_percent": "10"}],
            "empty",
        ),
    ],
)
async def test_credit_tiers_must_cover_zero_to_target(
    api: Api, tiers: list[dict[str, str]], message: str
) -> None:
    response = await api.call(
        "POST",
        "/api/v1/sla-policies",
        json={"name": "Bad", "target_percent": "99.9", "credit_tiers": tiers},
        expect=422,
    )
    assert "credit_tiers" in response.text
    assert message in response.text
    assert await _count(api, "/api/v1/sla-policies") == 0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"target_percent": "150"}, "target_percent"),
        ({"target_percent": "0"}, "target_percent"),
        ({"target_percent": "NaN"}, "target_percent"),
        ({"credit_cap_percent": "-1"}, "credit_cap_percent"),
        ({"min_credit_amount": "1.005"}, "min_credit_amount"),
        ({"credit_formula": "magic"}, "credit_formula"),
        ({"no_data_policy": "ignore"}, "no_data_policy"),
        ({"min_downtime_seconds": -5}, "min_downtime_seconds"),
        ({"maintenance_notice_seconds": 10**9}, "maintenance_notice_seconds"),
    ],
)
async def test_bad_policy_fields_are_named(api: Api, patch: dict[str, Any], field: str) -> None:
    body = {"name": "P", "target_percent": "99.9", "credit_tiers": TIERS, **patch}
    response = await api.call("POST", "/api/v1/sla-policies", json=body, expect=422)
    assert field in response.text


async def test_hourly_policy_needs_no_tiers(api: Api) -> None:
    policy = await api.create(
        "/api/v1/sla-policies",
        {
            "name": "DO",
            "target_percent": "99.99",
            "credit_formula": "hourly",
            "hourly_multiplier": "10",
        },
    )
    assert policy["credit_tiers"] == []
    assert policy["hourly_multiplier"] == "10"


async def test_patching_the_target_revalidates_the_tiers(api: Api) -> None:
    policy = await api.create(
        "/api/v1/sla-policies", {"name": "Std", "target_percent": "99.9", "credit_tiers": TIERS}
    )
    response = await api.call(
        "PATCH",
        f"/api/v1/sla-policies/{policy['id']}",
        json={"target_percent": "99.95"},
        expect=422,
    )
    assert "must end at the target 99.95" in response.text
    stored = await api.call("GET", f"/api/v1/sla-policies/{policy['id']}", expect=200)
    assert stored.json()["target_percent"] == "99.9"

    tiers = [dict(t) for t in TIERS]
    tiers[0]["to_percent"] = "99.95"
    ok = await api.call(
        "PATCH",
        f"/api/v1/sla-policies/{policy['id']}",
        json={"target_percent": "99.95", "credit_tiers": tiers},
        expect=200,
    )
    assert ok.json()["target_percent"] == "99.95"


async def test_policy_in_use_cannot_be_deleted(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    await api.call("DELETE", f"/api/v1/sla-policies/{catalog['policy']['id']}", expect=409)


# ---------------------------------------------------------------- services


async def test_service_money_is_a_string_with_cents(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    service = catalog["service"]
    assert service["monthly_fee"] == "100.00"
    assert service["currency"] == "USD"
    assert service["starts_at"] == "2025-01-01T00:00:00Z"
    assert service["ends_at"] is None


async def test_service_starts_now_by_default(api: Api, catalog: dict[str, dict[str, Any]]) -> None:
    body = {
        "customer_id": catalog["customer"]["id"],
        "name": "Mail",
        "slug": "mail",
        "policy_id": catalog["policy"]["id"],
        "monthly_fee": "12.5",
    }
    service = await api.create("/api/v1/services", body)
    assert service["starts_at"].endswith("Z")
    assert service["monthly_fee"] == "12.50"


@pytest.mark.parametrize(
    ("patch", "field", "status"),
    [
        ({"monthly_fee": "-1"}, "monthly_fee", 422),
        ({"monthly_fee": "9.999"}, "monthly_fee", 422),
        ({"currency": "usd"}, "currency", 422),
        ({"slug": "Web Site"}, "slug", 422),
        ({"starts_at": "2025-01-01T00:00:00"}, "starts_at", 422),
        ({"starts_at": "2025-02-01T00:00:00Z", "ends_at": "2025-01-01T00:00:00Z"}, "ends_at", 422),
        ({"customer_id": 999}, "customer 999", 404),
        ({"policy_id": 999}, "SLA policy 999", 404),
    ],
)
async def test_bad_service_is_refused(
    api: Api, catalog: dict[str, dict[str, Any]], patch: dict[str, Any], field: str, status: int
) -> None:
    body = {
        "customer_id": catalog["customer"]["id"],
        "name": "Mail",
        "slug": "mail",
        "policy_id": catalog["policy"]["id"],
        "monthly_fee": "10",
        **patch,
    }
    response = await api.call("POST", "/api/v1/services", json=body, expect=status)
    assert field in response.text
    assert await _count(api, "/api/v1/services") == 1


async def test_service_slug_is_unique_per_customer(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    body = {
        "customer_id": catalog["customer"]["id"],
        "name": "Again",
        "slug": "web",
        "policy_id": catalog["policy"]["id"],
        "monthly_fee": "1",
    }
    await api.call("POST", "/api/v1/services", json=body, expect=409)
    other = await api.create("/api/v1/customers", {"slug": "other", "name": "Other"})
    await api.create("/api/v1/services", {**body, "customer_id": other["id"]})


async def test_service_patch_keeps_unpatched_fields(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    service_id = catalog["service"]["id"]
    patched = await api.call(
        "PATCH",
        f"/api/v1/services/{service_id}",
        json={"monthly_fee": "250", "ends_at": "2026-01-01T00:00:00+01:00"},
        expect=200,
    )
    assert patched.json()["monthly_fee"] == "250.00"
    assert patched.json()["ends_at"] == "2025-12-31T23:00:00Z"
    assert patched.json()["name"] == "Web"


async def test_service_with_monitors_cannot_be_deleted(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    service_id = catalog["service"]["id"]
    await api.call("DELETE", f"/api/v1/services/{service_id}", expect=409)
    await api.call("DELETE", f"/api/v1/monitors/{catalog['monitor']['id']}", expect=204)
    await api.call("DELETE", f"/api/v1/services/{service_id}", expect=204)


# ---------------------------------------------------------------- monitors


async def test_monitor_defaults_and_options(api: Api, catalog: dict[str, dict[str, Any]]) -> None:
    monitor = catalog["monitor"]
    assert monitor["interval_seconds"] == 60
    assert monitor["timeout_seconds"] == 10
    assert monitor["locations"] == ["local"]
    assert monitor["quorum"] == 1
    assert monitor["failure_confirmations"] == 1
    assert monitor["enabled"] is True
    created = await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "api",
            "kind": "http",
            "target": "https://api.acme.example/health",
            "expected_status": [200, 204],
            "keyword": "ok",
            "method": "HEAD",
            "locations": ["fra", "nyc", "sgp"],
            "quorum": 2,
        },
    )
    assert created["options"] == {"expected_status": [200, 204], "keyword": "ok", "method": "HEAD"}
    assert created["quorum"] == 2


async def test_monitor_target_is_never_contacted(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    # .invalid never resolves (RFC 6761); creating the monitor must still succeed.
    await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "db",
            "kind": "tcp",
            "target": "db.customer.invalid:5432",
            "locations": ["inside-dc"],
        },
    )


async def test_heartbeat_monitor_gets_a_ping_url(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    created = await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "backup",
            "kind": "heartbeat",
            "interval_seconds": 3600,
            "grace_seconds": 600,
        },
    )
    assert created["heartbeat_url"].startswith("http://uptally.test/heartbeat/")
    read = await api.call("GET", f"/api/v1/monitors/{created['id']}", expect=200)
    assert read.json()["heartbeat_url"] == created["heartbeat_url"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"kind": "smtp"}, "kind"),
        ({"target": "ftp://acme.example/"}, "http:// or https://"),
        ({"target": "https://"}, "has no host"),
        ({"kind": "tcp", "target": "acme.example"}, "needs a port"),
        ({"kind": "tcp", "target": "acme.example:70000"}, "1 to 65535"),
        ({"kind": "dns", "target": "bad_name!.example"}, "valid hostname"),
        ({"interval_seconds": 1}, "interval_seconds"),
        ({"interval_seconds": 30, "timeout_seconds": 60}, "timeout_seconds"),
        ({"locations": []}, "locations"),
        ({"locations": ["fra", "fra"]}, "listed once"),
        ({"locations": ["Frankfurt DC"]}, "location name"),
        ({"locations": ["fra", "nyc"], "quorum": 3}, "quorum"),
        ({"failure_confirmations": 0}, "failure_confirmations"),
        ({"expected_status": [200, 999]}, "not HTTP status codes"),
        ({"kind": "tcp", "target": "a.example:25", "keyword": "x"}, "keyword do(es) not apply"),
        ({"record_type": "A"}, "record_type do(es) not apply to http"),
        ({"json_expected": 1}, "json_expected needs json_path"),
        ({"json_path": "items[0]"}, "json_path"),
        ({"service_id": 999}, "service 999"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_monitor_is_refused_naming_the_problem(
    api: Api, catalog: dict[str, dict[str, Any]], patch: dict[str, Any], message: str
) -> None:
    body = {
        "service_id": catalog["service"]["id"],
        "name": "m",
        "kind": "http",
        "target": "https://acme.example/",
        **patch,
    }
    response = await api.call("POST", "/api/v1/monitors", json=body)
    assert response.status_code in (404, 422), response.text
    assert message in response.text
    assert await _count(api, "/api/v1/monitors") == 1


async def test_monitor_patch_is_validated_merged(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    monitor_id = catalog["monitor"]["id"]
    bad = await api.call("PATCH", f"/api/v1/monitors/{monitor_id}", json={"quorum": 2}, expect=422)
    assert "quorum" in bad.text
    await api.call("PATCH", f"/api/v1/monitors/{monitor_id}", json={"kind": "tcp"}, expect=422)
    ok = await api.call(
        "PATCH",
        f"/api/v1/monitors/{monitor_id}",
        json={"locations": ["fra", "nyc"], "quorum": 2, "enabled": False, "keyword": "Welcome"},
        expect=200,
    )
    assert ok.json()["quorum"] == 2
    assert ok.json()["enabled"] is False
    assert ok.json()["options"] == {"keyword": "Welcome"}
    assert ok.json()["target"] == "https://acme.example/"


# ---------------------------------------------------------------- maintenance windows


async def test_window_is_announced_when_recorded(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    window = await api.create(
        "/api/v1/maintenance-windows",
        {
            "service_id": catalog["service"]["id"],
            "title": "Kernel upgrade",
            "starts_at": "2030-01-05T02:00:00Z",
            "ends_at": "2030-01-05T03:00:00Z",
        },
    )
    assert window["announced_at"] == window["recorded_at"]
    assert window["imported"] is False


async def test_admin_may_import_an_earlier_announcement(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    window = await api.create(
        "/api/v1/maintenance-windows",
        {
            "service_id": catalog["service"]["id"],
            "title": "Old",
            "starts_at": "2025-01-05T02:00:00Z",
            "ends_at": "2025-01-05T03:00:00Z",
            "announced_at": "2025-01-01T00:00:00Z",
        },
    )
    assert window["announced_at"] == "2025-01-01T00:00:00Z"
    assert window["imported"] is True


async def test_future_announcement_and_backwards_window_are_refused(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    base = {"service_id": catalog["service"]["id"], "title": "W"}
    await api.call(
        "POST",
        "/api/v1/maintenance-windows",
        expect=422,
        json={
            **base,
            "starts_at": "2030-01-05T02:00:00Z",
            "ends_at": "2030-01-05T03:00:00Z",
            "announced_at": "2030-01-01T00:00:00Z",
        },
    )
    response = await api.call(
        "POST",
        "/api/v1/maintenance-windows",
        expect=422,
        json={**base, "starts_at": "2030-01-05T03:00:00Z", "ends_at": "2030-01-05T02:00:00Z"},
    )
    assert "ends_at" in response.text
    assert await _count(api, "/api/v1/maintenance-windows") == 0


async def test_stretching_a_window_reannounces_it_but_shrinking_does_not(
    api: Api, catalog: dict[str, dict[str, Any]]
) -> None:
    window = await api.create(
        "/api/v1/maintenance-windows",
        {
            "service_id": catalog["service"]["id"],
            "title": "Old",
            "starts_at": "2025-01-05T02:00:00Z",
            "ends_at": "2025-01-05T04:00:00Z",
            "announced_at": "2025-01-01T00:00:00Z",
        },
    )
    path = f"/api/v1/maintenance-windows/{window['id']}"
    shrunk = await api.call("PATCH", path, json={"ends_at": "2025-01-05T03:00:00Z"}, expect=200)
    assert shrunk.json()["announced_at"] == "2025-01-01T00:00:00Z"
    stretched = await api.call("PATCH", path, json={"ends_at": "2025-01-05T05:00:00Z"}, expect=200)
    assert stretched.json()["announced_at"] != "2025-01-01T00:00:00Z"
    assert stretched.json()["imported"] is False
    await api.call("DELETE", path, expect=204)
    await api.call("GET", path, expect=404)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/customers/99999999999999999999999", None),
        ("GET", "/api/v1/services?customer_id=99999999999999999999999", None),
        ("DELETE", "/api/v1/monitors/9223372036854775808", None),
        ("GET", "/api/v1/services/0/sla?month=2025-06", None),
        (
            "POST",
            "/api/v1/results",
            {
                "results": [
                    {
                        "monitor_id": 2**64,
                        "location": "local",
                        "checked_at": "2025-06-01T00:00:00Z",
                        "ok": True,
                    }
                ]
            },
        ),
        (
            "POST",
            "/api/v1/maintenance-windows",
            {
                "service_id": 2**63,
                "title": "w",
                "starts_at": "2030-01-01T00:00:00Z",
                "ends_at": "2030-01-01T01:00:00Z",
            },
        ),
    ],
)
async def test_ids_beyond_64_bits_are_a_422_not_a_driver_overflow(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await api.call(method, path, json=body)
    assert response.status_code == 422, response.text
