"""Channels through the API: set and read per customer and per service, URLs never
shown whole, bad input a 422 naming the channel, admin only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.models import NotificationChannel
from app.notifications.channels import mask, url_problem
from tests.conftest import Api
from tests.helpers import make_key, make_other_customer, policy_body

HOOK = "json://hooks.example.com/uptally/secret-token-1234"
MAIL = "mailto://ops:hunter2@example.com"


def test_masks_show_the_scheme_and_four_characters_at_most() -> None:
    assert mask(HOOK) == "json://…1234"
    assert mask(MAIL) == "mailto://….com"
    assert mask("json://a.b") == "json://…"  # too short to show any of it
    assert mask("no-scheme-at-all-here") == "…here"


def test_url_problems_name_what_apprise_refuses() -> None:
    assert url_problem(HOOK) is None and url_problem(MAIL) is None
    assert "nonsense://" in (url_problem("nonsense://secret") or "")
    assert url_problem("hooks.example.com") == "not an Apprise URL (scheme://...)"
    assert url_problem("   ") == "an empty URL"


async def test_a_service_list_is_set_read_back_masked_and_kept_by_id(
    api: Api, catalog: dict[str, Any]
) -> None:
    path = f"/api/v1/services/{catalog['service']['id']}/notifications"
    assert (await api.call("GET", path, expect=200)).json()["channels"] == []
    body = {"channels": [{"url": HOOK, "events": ["down", "up"]}, {"url": MAIL}]}
    stored = (await api.call("PUT", path, json=body, expect=200)).json()
    assert [(c["url"], c["events"]) for c in stored["channels"]] == [
        ("json://…1234", ["down", "up"]),
        ("mailto://….com", ["down", "up", "reminder", "degraded", "budget", "incident"]),
    ]
    assert HOOK not in str(stored) and "hunter2" not in str(stored)
    hook, mail = stored["channels"]
    # Keep the hook without sending its secret again, drop the mail, add another.
    body = {"channels": [{"url": "json://other.example.com/x/abcdefgh"}, {"id": hook["id"]}]}
    changed = (await api.call("PUT", path, json=body, expect=200)).json()["channels"]
    assert [c["url"] for c in changed] == ["json://…efgh", "json://…1234"]
    assert changed[1]["id"] == hook["id"] and changed[1]["events"] == mail["events"]
    assert (await api.call("GET", path, expect=200)).json()["channels"] == changed
    await api.call("PUT", path, json={"channels": []}, expect=200)
    assert (await api.call("GET", path, expect=200)).json()["channels"] == []


async def test_bad_channels_are_refused_by_name_with_the_url_masked_and_nothing_stored(
    api: Api, catalog: dict[str, Any]
) -> None:
    customer_id = catalog["customer"]["id"]
    path = f"/api/v1/customers/{customer_id}/notifications"
    other = (await api.call("PUT", path, json={"channels": [{"url": HOOK}]}, expect=200)).json()
    service_path = f"/api/v1/services/{catalog['service']['id']}/notifications"
    body = {
        "channels": [
            {"url": MAIL},
            {"url": "nonsense://user:secret@example.com/path"},
            {"id": other["channels"][0]["id"]},  # the customer's, not this service's
            {"url": MAIL},
        ]
    }
    response = await api.call("PUT", service_path, json=body, expect=422)
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [
        ["body", "channels", 1, "url"],
        ["body", "channels", 2, "id"],
        ["body", "channels", 3, "url"],
    ]
    assert "secret" not in response.text and "hunter2" not in response.text
    assert errors[2]["msg"] == "this URL is in the list twice"
    for bad in ({"channels": [{}]}, {"channels": [{"url": MAIL, "events": ["sms"]}]}):
        await api.call("PUT", service_path, json=bad, expect=422)
    assert (await api.call("GET", service_path, expect=200)).json()["channels"] == []


async def test_channels_and_deliveries_are_for_admins_only(
    api: Api, catalog: dict[str, Any], db_url: str
) -> None:
    billing = await make_key(db_url, "billing")
    customer = await make_key(db_url, "customer", customer="acme")
    service_path = f"/api/v1/services/{catalog['service']['id']}/notifications"
    for token in (billing, customer):
        await api.call("GET", service_path, token=token, expect=403)
        await api.call("PUT", service_path, token=token, json={"channels": []}, expect=403)
        await api.call("GET", "/api/v1/notifications/deliveries", token=token, expect=403)
    await api.call("GET", service_path, token=None, expect=401)
    await api.call("GET", "/api/v1/services/999999/notifications", expect=404)
    empty = {"channels": []}
    await api.call("PUT", "/api/v1/customers/999999/notifications", json=empty, expect=404)


async def test_deleting_a_customer_or_a_service_removes_its_channels(api: Api, app: Any) -> None:
    other = await make_other_customer(
        api, (await api.create("/api/v1/sla-policies", policy_body()))["id"]
    )
    customer_id, service_id = other["customer"]["id"], other["service"]["id"]
    for path in (
        f"/api/v1/customers/{customer_id}/notifications",
        f"/api/v1/services/{service_id}/notifications",
    ):
        await api.call("PUT", path, json={"channels": [{"url": HOOK}]}, expect=200)

    async def stored() -> int:
        async with app.state.runtime.sessions() as session:
            return int(await session.scalar(select(func.count(NotificationChannel.id))) or 0)

    assert await stored() == 2
    await api.call("DELETE", f"/api/v1/services/{service_id}", expect=204)
    assert await stored() == 1
    await api.call("DELETE", f"/api/v1/customers/{customer_id}", expect=204)
    assert await stored() == 0
