"""Bearer tokens, hashed keys, scopes and customer isolation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.auth import hash_token
from app.db import make_engine, make_sessionmaker
from app.models import ApiKey
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
