"""The admin API for keys: create, list (with last use), revoke and rotate, on both
databases; a revoked or expired key is refused at once, naming why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from app.db import make_engine, make_sessionmaker, transaction
from app.models import ApiKey
from tests.conftest import Api
from tests.helpers import make_key


async def set_expiry(db_url: str, key_id: int, at: datetime) -> None:
    engine = make_engine(db_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(expires_at=at))
    finally:
        await engine.dispose()


async def test_a_key_created_through_the_api_works_and_shows_its_token_once(
    api: Api, catalog: dict[str, Any]
) -> None:
    created = await api.create(
        "/api/v1/keys", {"scope": "customer", "customer_id": catalog["customer"]["id"], "name": "x"}
    )
    token = created["token"]
    assert token.startswith("upt_") and created["token_prefix"] == token[:12]
    assert created["state"] == "active" and created["last_used_at"] is None
    await api.call("GET", "/api/v1/services", token=token, expect=200)
    read = (await api.call("GET", f"/api/v1/keys/{created['id']}", expect=200)).json()
    assert "token" not in read
    # This process noted the use; a read writes it first, so it shows at once.
    assert read["last_used_at"] is not None


async def test_scope_rules_are_422s_naming_the_field(api: Api, catalog: dict[str, Any]) -> None:
    cases = [
        ({"scope": "agent"}, "locations: an agent key needs at least one location"),
        ({"scope": "admin", "locations": ["fra"]}, "locations: only agent keys"),
        ({"scope": "agent", "locations": ["FRA"]}, "'FRA' is not a location name"),
        ({"scope": "customer"}, "customer_id: a customer key needs its customer"),
        ({"scope": "billing", "customer_id": 1}, "customer_id: only customer keys"),
        ({"scope": "root"}, "Input should be"),
        ({"scope": "admin", "expires_at": "2001-01-01T00:00:00Z"}, "has passed already"),
        ({"scope": "customer", "customer_id": 999}, "no customer 999"),
    ]
    for body, message in cases:
        response = await api.call("POST", "/api/v1/keys", json=body, expect=422)
        assert message in response.text, (body, response.text)
    assert (await api.page("/api/v1/keys"))["total"] == 0  # nothing was stored


async def test_only_admins_manage_keys(api: Api, db_url: str, catalog: dict[str, Any]) -> None:
    billing = await make_key(db_url, "billing")
    customer = await make_key(db_url, "customer", "acme")
    for token in (billing, customer):
        await api.call("GET", "/api/v1/keys", token=token, expect=403)
        await api.call("POST", "/api/v1/keys", token=token, json={"scope": "admin"}, expect=403)
        await api.call("POST", "/api/v1/keys/1/revoke", token=token, expect=403)


async def test_a_revoked_key_is_refused_at_once_and_revoking_again_changes_nothing(
    api: Api, db_url: str
) -> None:
    token = await make_key(db_url, "billing")
    await api.call("GET", "/api/v1/customers", token=token, expect=200)
    [key] = await api.items("/api/v1/keys")
    revoked = (await api.call("POST", f"/api/v1/keys/{key['id']}/revoke", expect=200)).json()
    assert revoked["state"] == "revoked" and revoked["revoked_at"] is not None
    response = await api.call("GET", "/api/v1/customers", token=token, expect=401)
    assert response.json()["detail"] == (
        f"key {key['token_prefix']}... was revoked at {revoked['revoked_at']}; ask for a new key"
    )
    again = (await api.call("POST", f"/api/v1/keys/{key['id']}/revoke", expect=200)).json()
    assert again["revoked_at"] == revoked["revoked_at"]
    await api.call("POST", "/api/v1/keys/999/revoke", expect=404)


async def test_an_expired_key_is_refused_naming_its_expiry(api: Api, db_url: str) -> None:
    token = await make_key(db_url, "billing")
    [key] = await api.items("/api/v1/keys")
    past = datetime(2020, 1, 1, tzinfo=UTC)
    await set_expiry(db_url, key["id"], past)
    response = await api.call("GET", "/api/v1/customers", token=token, expect=401)
    assert "expired at 2020-01-01T00:00:00Z" in response.json()["detail"]
    assert (await api.page("/api/v1/keys?state=expired"))["total"] == 1
    assert (await api.page("/api/v1/keys?state=active"))["total"] == 0


async def test_rotating_replaces_a_key_with_the_same_rights(
    api: Api, db_url: str, catalog: dict[str, Any]
) -> None:
    old_token = await make_key(db_url, "agent", locations=["fra", "ams"])
    [old] = await api.items("/api/v1/keys")
    rotated = await api.create(f"/api/v1/keys/{old['id']}/rotate", {})
    assert rotated["scope"] == "agent" and rotated["locations"] == ["ams", "fra"]
    assert rotated["replaces"]["id"] == old["id"]
    assert rotated["replaces"]["state"] == "revoked"
    await api.call("GET", "/api/v1/agent/monitors?location=fra", token=old_token, expect=401)
    new = rotated["token"]
    await api.call("GET", "/api/v1/agent/monitors?location=fra", token=new, expect=200)
    await api.call("GET", "/api/v1/agent/monitors?location=nyc", token=new, expect=403)
    # A revoked key cannot be rotated: create a new one.
    response = await api.call("POST", f"/api/v1/keys/{old['id']}/rotate", expect=409)
    assert "is revoked" in response.json()["detail"]


async def test_rotating_with_grace_keeps_the_old_key_working_until_then(
    api: Api, db_url: str
) -> None:
    old_token = await make_key(db_url, "billing")
    [old] = await api.items("/api/v1/keys")
    before = datetime.now(UTC).replace(microsecond=0)
    rotated = await api.create(f"/api/v1/keys/{old['id']}/rotate", {"grace_seconds": 3600})
    assert rotated["replaces"]["state"] == "active"
    expires = datetime.fromisoformat(rotated["replaces"]["expires_at"])
    assert before + timedelta(seconds=3600) <= expires <= before + timedelta(seconds=3602)
    await api.call("GET", "/api/v1/customers", token=old_token, expect=200)
    await api.call("GET", "/api/v1/customers", token=rotated["token"], expect=200)
    await api.call(
        "POST", f"/api/v1/keys/{old['id']}/rotate", json={"grace_seconds": -1}, expect=422
    )


async def test_a_key_with_a_lifetime_is_rotated_to_the_same_lifetime(api: Api) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    created = await api.create(
        "/api/v1/keys", {"scope": "billing", "expires_at": expires.isoformat()}
    )
    rotated = await api.create(f"/api/v1/keys/{created['id']}/rotate", {})
    lifetime = datetime.fromisoformat(rotated["expires_at"]) - datetime.fromisoformat(
        rotated["created_at"]
    )
    assert lifetime == expires - datetime.fromisoformat(created["created_at"])


async def test_the_list_filters_by_scope_customer_and_state(
    api: Api, db_url: str, catalog: dict[str, Any]
) -> None:
    await make_key(db_url, "billing")
    await make_key(db_url, "customer", "acme")
    await make_key(db_url, "agent", locations=["fra"])
    await api.call("POST", "/api/v1/keys/1/revoke", expect=200)
    assert [k["scope"] for k in await api.items("/api/v1/keys")] == ["billing", "customer", "agent"]
    assert [k["id"] for k in await api.items("/api/v1/keys?scope=agent")] == [3]
    customer_id = catalog["customer"]["id"]
    assert [k["id"] for k in await api.items(f"/api/v1/keys?customer_id={customer_id}")] == [2]
    assert [k["id"] for k in await api.items("/api/v1/keys?state=active")] == [2, 3]
    assert [k["id"] for k in await api.items("/api/v1/keys?state=revoked")] == [1]
    await api.call("GET", "/api/v1/keys?state=gone", expect=422)
