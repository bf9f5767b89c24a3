"""Bearer tokens, hashed keys, scopes and customer isolation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.auth import hash_token
from app.db import make_engine, make_sessionmaker
from app.models import ApiKey, CheckResult
from tests.conftest import Api
from tests.helpers import make_key, make_other_customer


async def test_keys_are_stored_hashed(db_url: str) -> None:
    token = await make_key(db_url, "billing")
    engine = make_engine(db_url)
    async with make_sessionmaker(engine)() as session:
        key = await session.scalar(select(ApiKey))
    await engine.dispose()
    assert key is not None
    assert key.token_hash == hash_token(token)
    assert token not in (key.token_hash, key.token_prefix)


async def test_no_token_is_401_and_unknown_token_is_401(api: Api) -> None:
    response = await api.call("GET", "/api/v1/customers", token=None, expect=401)
    assert response.headers["www-authenticate"] == "Bearer"
    await api.call("GET", "/api/v1/customers", token="upt_nope", expect=401)


@pytest.mark.parametrize(
    ("scope", "method", "path", "status"),
    [
        ("billing", "GET", "/api/v1/customers", 200),
        ("billing", "GET", "/api/v1/sla-policies", 200),
        ("billing", "POST", "/api/v1/customers", 403),
        ("billing", "DELETE", "/api/v1/services/1", 403),
        ("agent", "GET", "/api/v1/customers", 403),
        ("agent", "POST", "/api/v1/monitors", 403),
        ("customer", "GET", "/api/v1/services", 200),
        ("customer", "GET", "/api/v1/sla-policies", 403),
        ("customer", "PATCH", "/api/v1/services/1", 403),
        ("customer", "POST", "/api/v1/maintenance-windows", 403),
    ],
)
async def test_scopes_are_enforced(
    api: Api,
    db_url: str,
    catalog: dict[str, Any],
    scope: str,
    method: str,
    path: str,
    status: int,
) -> None:
    token = await make_key(
        db_url,
        scope,
        "acme" if scope == "customer" else None,
        ["local"] if scope == "agent" else (),
    )
    response = await api.call(method, path, token=token, json={})
    assert response.status_code == status, response.text
    if status == 403:
        assert scope in response.json()["detail"]


async def test_customer_key_sees_only_its_own_customer(
    api: Api, db_url: str, catalog: dict[str, Any]
) -> None:
    globex = await make_other_customer(api, catalog["policy"]["id"])
    other, other_service = globex["customer"], globex["service"]
    other_monitor = await api.create(
        "/api/v1/monitors",
        {
            "service_id": other_service["id"],
            "name": "m",
            "kind": "icmp",
            "target": "shop.globex.example",
        },
    )
    other_window = await api.create(
        "/api/v1/maintenance-windows",
        {
            "service_id": other_service["id"],
            "title": "w",
            "starts_at": "2030-01-01T00:00:00Z",
            "ends_at": "2030-01-01T01:00:00Z",
        },
    )

    token = await make_key(db_url, "customer", "acme")
    listed = await api.page("/api/v1/customers", token=token)
    assert [c["slug"] for c in listed["items"]] == ["acme"] and listed["total"] == 1
    services = await api.page("/api/v1/services", token=token)
    assert [s["slug"] for s in services["items"]] == ["web"] and services["total"] == 1
    monitors = await api.page("/api/v1/monitors", token=token)
    assert [m["id"] for m in monitors["items"]] == [catalog["monitor"]["id"]]
    assert monitors["total"] == 1
    windows = await api.page("/api/v1/maintenance-windows", token=token)
    assert windows["items"] == [] and windows["total"] == 0

    for path in (
        f"/api/v1/customers/{other['id']}",
        f"/api/v1/services/{other_service['id']}",
        f"/api/v1/monitors/{other_monitor['id']}",
        f"/api/v1/maintenance-windows/{other_window['id']}",
    ):
        await api.call("GET", path, token=token, expect=404)
    # ... and filtering by another customer's id shows nothing either.
    filtered = await api.page(f"/api/v1/services?customer_id={other['id']}", token=token)
    assert filtered["items"] == [] and filtered["total"] == 0


async def test_customer_key_needs_an_existing_customer(db_url: str) -> None:
    with pytest.raises(ValueError, match="no customer with slug 'ghost'"):
        await make_key(db_url, "customer", "ghost")
    with pytest.raises(ValueError, match="needs --customer"):
        await make_key(db_url, "customer")


# ------------------------------------------------------------------ agent keys and locations


def _result(monitor_id: int, location: str) -> dict[str, Any]:
    return {
        "monitor_id": monitor_id,
        "location": location,
        "checked_at": "2025-06-01T12:00:00Z",
        "ok": False,
    }


async def _stored(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(CheckResult)) or 0)
    finally:
        await engine.dispose()


@pytest.fixture
async def far_monitor(api: Api, catalog: dict[str, Any]) -> dict[str, Any]:
    """A monitor probed from the server ("local") and from "fra" and "nyc"."""
    return await api.create(
        "/api/v1/monitors",
        {
            "service_id": catalog["service"]["id"],
            "name": "far",
            "kind": "tcp",
            "target": "db.acme.example:5432",
            "locations": ["local", "fra", "nyc"],
            "quorum": 2,
        },
    )


async def test_an_agent_key_reads_only_its_locations_assignment(
    api: Api, db_url: str, far_monitor: dict[str, Any]
) -> None:
    fra = await make_key(db_url, "agent", locations=["fra"])
    listed = await api.page("/api/v1/agent/monitors?location=fra", token=fra)
    assert [m["id"] for m in listed["items"]] == [far_monitor["id"]]
    for other in ("local", "nyc", "ams"):
        response = await api.call(
            "GET", f"/api/v1/agent/monitors?location={other}", token=fra, expect=403
        )
        detail = response.json()["detail"]
        assert "bound to location(s) fra" in detail and repr(other) in detail
    # A key for several locations reads each of them; admins read any.
    both = await make_key(db_url, "agent", locations=["nyc", "fra"])
    for location in ("fra", "nyc"):
        await api.page(f"/api/v1/agent/monitors?location={location}", token=both)
    await api.page("/api/v1/agent/monitors?location=local")


async def test_an_agent_key_pushes_only_its_locations_results(
    api: Api, db_url: str, far_monitor: dict[str, Any]
) -> None:
    """The issue's forgery: an agent of "fra" pushing a failure for the server's own
    location, to reach the quorum alone. Refused whole; nothing stored."""
    fra = await make_key(db_url, "agent", locations=["fra"])
    ident = far_monitor["id"]
    forged = [_result(ident, "fra"), _result(ident, "local")]
    response = await api.call(
        "POST", "/api/v1/results", json={"results": forged}, token=fra, expect=403
    )
    detail = response.json()["detail"]
    assert "row 1" in detail and "bound to location(s) fra" in detail and "'local'" in detail
    assert await _stored(db_url) == 0
    ok = await api.call(
        "POST", "/api/v1/results", json={"results": forged[:1]}, token=fra, expect=202
    )
    assert ok.json() == {"accepted": 1}
    # Admins push for any location.
    await api.call("POST", "/api/v1/results", json={"results": forged[1:]}, expect=202)
    assert await _stored(db_url) == 2


async def test_an_agent_key_from_before_location_binding_may_do_nothing(
    api: Api, db_url: str, far_monitor: dict[str, Any]
) -> None:
    """Keys created before binding have no locations: refused everywhere, with the way
    out in the message (not every location, which was the hole)."""
    token = await make_key(db_url, "agent", locations=["fra"])
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            key = await session.scalar(select(ApiKey).where(ApiKey.scope == "agent"))
            assert key is not None
            key.locations = []
            await session.commit()
    finally:
        await engine.dispose()
    response = await api.call("GET", "/api/v1/agent/monitors?location=fra", token=token, expect=403)
    assert "bound to no location" in response.text and "--location" in response.text
    rows = [_result(far_monitor["id"], "fra")]
    await api.call("POST", "/api/v1/results", json={"results": rows}, token=token, expect=403)
    assert await _stored(db_url) == 0


async def test_agent_keys_need_locations_and_only_agent_keys_take_them(db_url: str) -> None:
    with pytest.raises(ValueError, match="an agent key needs --location NAME"):
        await make_key(db_url, "agent")
    with pytest.raises(ValueError, match="--location applies to agent keys only"):
        await make_key(db_url, "billing", locations=["fra"])
    with pytest.raises(ValueError, match="--location 'Fra 1'"):
        await make_key(db_url, "agent", locations=["fra", "Fra 1"])
    await make_key(db_url, "agent", locations=["nyc", "fra", "nyc"])
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            keys = list(await session.scalars(select(ApiKey)))
    finally:
        await engine.dispose()
    assert [key.locations for key in keys] == [["fra", "nyc"]]
