"""Deciding messages: the pure parts (texts, keys, back-off), a state change handed
over twice (a dispatcher retry) deciding one message, and `uptally notify test`."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import func, select

from app.cli import main
from app.models import NotificationDelivery, NotificationMessage
from app.monitoring.dispatch import Change
from app.notifications import messages
from app.notifications.messages import Subject, duration, retry_delay
from tests.conftest import Api
from tests.notifications.conftest import watched_service
from tests.notifications.receiver import Receiver, receiving

WEB = Subject(customer_id=1, customer="Acme", service_id=2, service="Web")


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (50, 3600)],
)
def test_retries_back_off_doubling_up_to_the_maximum(attempts: int, expected: int) -> None:
    assert retry_delay(attempts, 30, 3600) == expected


def test_retry_delays_are_whole_seconds_and_never_zero() -> None:
    assert retry_delay(1, 0.2, 10) == 1 and retry_delay(2, 0.7, 10) == 2


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45, "45 s"), (180, "3 min"), (3900, "1 h 5 min"), (90000, "1 d 1 h")],
)
def test_durations_read_as_a_person_says_them(seconds: int, text: str) -> None:
    assert duration(seconds) == text


def test_each_event_has_a_key_naming_it_so_it_is_decided_once() -> None:
    assert messages.down(7, WEB, 100, "why").key == "change:7"
    assert messages.up(8, WEB, 200, 100).key == "change:8"
    assert messages.reminder(WEB, 100, 2, 7300, "").key == "reminder:2:100:2"
    monitor = Subject(1, "Acme", 2, "Web", monitor_id=5, monitor="home")
    assert messages.degraded(monitor, 50, "fra", "slow").key == "degraded:5:50"
    burning = messages.budget(WEB, 60, 300, Fraction(1, 8), Fraction(2400), Fraction(-60))
    assert burning.key == "budget:2:60"
    assert "12.5% of this month's error budget (40 min)" in burning.body
    assert "The budget is spent: 1 min over." in burning.body


async def test_a_state_change_handed_over_twice_decides_one_message(
    api: Api, app: Any, receiver: Receiver
) -> None:
    catalog = await watched_service(api, receiver)
    runtime = app.state.runtime
    change = Change(
        id=41,
        subject="service",
        subject_id=catalog["service"]["id"],
        at=int(runtime.clock()) - 60,
        old="up",
        new="down",
        reason="monitor(s) down: home since ...",
    )
    for _ in range(2):  # the dispatcher retries a batch whose completion failed
        await runtime.notifier.handle_changes([change])
    up = Change(43, "service", change.subject_id, change.at + 30, "down", "up", "")
    await runtime.notifier.handle_changes([up, up])
    async with runtime.sessions() as session:
        events = list(await session.scalars(select(NotificationMessage.event)))
        deliveries = await session.scalar(select(func.count(NotificationDelivery.id)))
    assert events == ["down", "up"] and deliveries == 2


def test_notify_test_sends_one_message_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with receiving() as receiver:
        assert main(["notify", "test", receiver.url, "--timeout", "5"]) == 0
        receiver.statuses = [500]
        assert main(["notify", "test", receiver.url, "--timeout", "5"]) == 1
    assert [m["title"] for m in receiver.received] == ["Uptally test notification"] * 2
    out, err = capsys.readouterr()
    assert out.strip() == "delivered to json://…hook"
    assert "not delivered to json://…hook" in err and "500" in err
    assert main(["notify", "test", "nonsense://user:secret@host"]) == 2
    assert "secret" not in capsys.readouterr().err
