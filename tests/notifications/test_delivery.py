"""Notifications delivered for real: results go in through the API, the app's own loops
fold them, hand the state changes over, decide the messages and send them through
Apprise's ``json://`` to a local webhook, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.models import NotificationDelivery
from app.sla.periods import utc_text
from tests.conftest import Api
from tests.helpers import policy_body, service_body, until
from tests.notifications.conftest import deliveries_once, push, running, watched_service
from tests.notifications.receiver import Receiver

OUTAGE = ((600, True), (540, True), (480, False), (420, False), (360, False), (300, True))
AFTER = ((240, True), (180, True), (120, True), (60, True), (0, True))


async def settle(app: Any, seconds: float = 1.0) -> None:
    """Let the background loops run several more passes (every 0.1 s here)."""
    await asyncio.sleep(seconds)


async def test_an_outage_sends_exactly_one_down_and_one_up_message(
    notifying: tuple[Api, Any], receiver: Receiver
) -> None:
    api, app = notifying
    catalog = await watched_service(api, receiver, "down", "up")
    monitor_id = catalog["monitor"]["id"]
    await push(api, monitor_id, *OUTAGE)
    await until(lambda: len(receiver.delivered()) == 2, "the down and up messages", 20)
    # More results of the same state, and more passes of every loop: nothing new.
    await push(api, monitor_id, *AFTER)
    await settle(app)
    titles = receiver.titles()
    assert titles == ["DOWN: Acme / Web", "UP: Acme / Web"], titles
    down, up = receiver.delivered()
    assert "monitor(s) down: home" in down["message"] and down["type"] == "failure"
    assert "after 3 min down" in up["message"] and up["type"] == "success"

    record = await deliveries_once(
        api, lambda items: all(d["status"] == "sent" for d in items), "the record"
    )
    assert [(d["event"], d["status"], d["attempts"]) for d in record] == [
        ("up", "sent", 1),
        ("down", "sent", 1),
    ]
    assert all(d["channel"].startswith("json://…") for d in record)
    assert receiver.url not in str(record)  # the secret is never shown


async def test_a_failing_channel_is_retried_with_back_off_until_it_answers(
    notifying: tuple[Api, Any], receiver: Receiver
) -> None:
    api, app = notifying
    receiver.statuses = [500, 503]  # then 200
    catalog = await watched_service(api, receiver, "down")
    await push(api, catalog["monitor"]["id"], *OUTAGE[:3])
    await until(lambda: receiver.delivered(), "the down message, third time lucky", 20)
    assert receiver.answered == [500, 503, 200]
    assert len({m["title"] for m in receiver.received}) == 1  # one message, three tries
    (record,) = await deliveries_once(api, lambda items: items[0]["status"] == "sent", "sent")
    assert (record["status"], record["attempts"], record["last_error"]) == ("sent", 3, None)
    async with app.state.runtime.sessions() as session:
        url = await session.scalar(select(NotificationDelivery.url))
    assert url is None  # done: the secret is not kept with the record


async def test_a_channel_that_never_answers_is_given_up_after_the_last_attempt(
    fast_settings: Settings, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 10
    async with running(fast_settings, notify_max_attempts=2) as (api, _):
        catalog = await watched_service(api, receiver, "down")
        await push(api, catalog["monitor"]["id"], *OUTAGE[:3])
        (record,) = await deliveries_once(
            api, bool, "the delivery given up", query="?status=failed"
        )
    assert record["attempts"] == 2 and "500" in record["last_error"]
    assert len(receiver.received) == 2


async def test_reminders_come_at_their_interval_while_down_and_stop_when_up(
    fast_settings: Settings, receiver: Receiver
) -> None:
    async with running(fast_settings, notify_reminder_seconds=3600) as (api, app):
        notifier = app.state.runtime.notifier
        catalog = await watched_service(api, receiver, "down", "up", "reminder")
        monitor_id = catalog["monitor"]["id"]
        await push(api, monitor_id, *OUTAGE[:5])
        await until(lambda: receiver.titles() == ["DOWN: Acme / Web"], "the down message")
        later = time.time()
        notifier.clock = lambda: later + 1800  # half an interval on: nothing yet
        await settle(app, 0.5)
        assert len(receiver.delivered()) == 1
        notifier.clock = lambda: later + 3600
        await until(lambda: len(receiver.delivered()) == 2, "the first reminder")
        await settle(app, 0.5)  # more passes in the same hour: still one reminder
        notifier.clock = lambda: later + 7200
        await until(lambda: len(receiver.delivered()) == 3, "the second reminder")
        notifier.clock = time.time
        await push(api, monitor_id, (0, True))
        await until(lambda: len(receiver.delivered()) == 4, "the up message")
        notifier.clock = lambda: later + 4 * 3600
        await settle(app, 0.5)
    titles = receiver.titles()
    assert titles == [
        "DOWN: Acme / Web",
        "STILL DOWN: Acme / Web",
        "STILL DOWN: Acme / Web",
        "UP: Acme / Web",
    ]
    assert "down for 1 h" in receiver.delivered()[1]["message"]


async def test_a_degraded_monitor_is_told_once_per_episode(
    fast_settings: Settings, receiver: Receiver
) -> None:
    async with running(fast_settings, notify_degraded_clear_seconds=3600) as (api, app):
        notifier = app.state.runtime.notifier
        catalog = await watched_service(api, receiver, "degraded")
        monitor_id = catalog["monitor"]["id"]
        slow = {"warning": "slow: 900 ms > 500 ms"}
        # 90 s old: fresh (under twice the 60 s interval) for the next passes too; at
        # 120 s it would go stale the second after the push, and never be told.
        await push(api, monitor_id, (90, True), **slow)
        await until(lambda: receiver.delivered(), "the degraded message")
        await push(api, monitor_id, (60, True), **slow)  # the same episode
        await push(api, monitor_id, (30, True))  # quiet, but not for long enough
        await push(api, monitor_id, (0, True), **slow)
        await settle(app, 0.5)
        assert len(receiver.delivered()) == 1
        await push(api, monitor_id, (-1, True))
        later = time.time()
        notifier.clock = lambda: later + 10
        await settle(app, 0.3)  # quiet from now on ...
        notifier.clock = lambda: later + 3700
        await settle(app, 0.3)  # ... for longer than the quiet spell: the episode ended
        notifier.clock = time.time
        await push(api, monitor_id, (-2, True), warning="certificate expires in 5 days")
        await until(lambda: len(receiver.delivered()) == 2, "the next episode's message")
    first, second = receiver.delivered()
    assert first["title"] == "DEGRADED: Acme / Web / home" and first["type"] == "warning"
    assert "slow: 900 ms > 500 ms" in first["message"] and "at local" in first["message"]
    assert "certificate expires in 5 days" in second["message"]


async def test_an_error_budget_burning_fast_is_told_once(
    notifying: tuple[Api, Any], receiver: Receiver
) -> None:
    api, app = notifying
    catalog = await watched_service(api, receiver, "budget")
    # 99.9 % of a month is about 43 min of budget: 5 min down in the last hour is over
    # 5 % of it (the default share).
    await push(api, catalog["monitor"]["id"], *OUTAGE, *AFTER)
    await until(lambda: receiver.delivered(), "the budget message", 20)
    await settle(app)
    (message,) = receiver.delivered()
    assert message["title"] == "ERROR BUDGET BURNING: Acme / Web"
    assert "3 min of downtime in the last hour" in message["message"]


async def test_an_incident_about_to_miss_its_response_target_is_told_once(
    notifying: tuple[Api, Any], receiver: Receiver
) -> None:
    api, app = notifying
    customer = await api.create("/api/v1/customers", {"slug": "acme", "name": "Acme"})
    targets = [{"priority": "P1", "respond_minutes": 30, "resolve_minutes": 240}]
    policy = await api.create("/api/v1/sla-policies", policy_body(support_targets=targets))
    service = await api.create("/api/v1/services", service_body(customer["id"], policy["id"]))
    path = f"/api/v1/customers/{customer['id']}/notifications"
    channel = {"channels": [{"url": receiver.url, "events": ["incident"]}]}
    await api.call("PUT", path, json=channel, expect=200)
    opened = utc_text(int(time.time()) - 20 * 60)  # due in 10 minutes: within the 15 warned
    body = {"service_id": service["id"], "title": "Checkout fails", "priority": "P1"}
    late = await api.create("/api/v1/incidents", {**body, "opened_at": opened})
    await api.create("/api/v1/incidents", {**body, "title": "Not yet"})  # due in 30 min
    await until(lambda: receiver.delivered(), "the response-due message")
    await settle(app, 0.5)
    (message,) = receiver.delivered()
    assert message["title"] == f"RESPONSE DUE: Acme / Web: incident #{late['id']} (P1)"
    assert "'Checkout fails', is not acknowledged" in message["message"]
    assert "missed in 9 min" in message["message"] or "missed in 10 min" in message["message"]
