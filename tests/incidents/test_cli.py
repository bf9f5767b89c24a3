"""``uptally incidents list|show|ack|resolve`` on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.cli import main
from app.db import make_engine, make_sessionmaker, transaction
from app.incidents.store import OPERATOR, new_incident
from app.models import Customer, Service
from app.sample import standard_policy
from tests.conftest import run_async


async def seed(url: str) -> int:
    """Customer "acme" with a P1 target (15 min to respond, 24/7) and an incident
    opened ten minutes ago."""
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            now = datetime.now(UTC).replace(microsecond=0)
            policy = standard_policy(now)
            policy.support_targets = [
                {"priority": "P1", "respond_minutes": 15, "resolve_minutes": 60,
                 "calendar_id": None},
            ]  # fmt: skip
            customer = Customer(slug="acme", name="Acme", timezone="UTC", created_at=now)
            service = Service(
                customer=customer, policy=policy, name="Web", slug="web",
                monthly_fee=Decimal(100), currency="EUR", starts_at=now, created_at=now,
            )  # fmt: skip
            session.add_all([customer, policy, service])
            await session.flush()
            incident = new_incident(
                service_id=service.id, title="Database slow", priority="P1", source=OPERATOR,
                opened_at=now - timedelta(minutes=10), opened_by="admin-token", created_at=now,
            )  # fmt: skip
            session.add(incident)
            await session.flush()
            return incident.id
    finally:
        await engine.dispose()


def test_an_operator_lists_acknowledges_and_resolves(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UPTALLY_DATABASE_URL", db_url)
    ident = run_async(seed, db_url)
    assert main(["incidents", "list"]) == 0
    out = capsys.readouterr().out
    assert f"#{ident}" in out and "open" in out and "Database slow" in out
    assert "respond: 10/15 min running" in out

    assert main(["incidents", "ack", str(ident), "-m", "on it"]) == 0
    assert "acknowledged" in capsys.readouterr().out
    assert main(["incidents", "ack", str(ident)]) == 1
    assert "already acknowledged" in capsys.readouterr().err

    assert main(["incidents", "show", str(ident)]) == 0
    shown = capsys.readouterr().out
    assert "acknowledge by cli:" in shown and ": on it" in shown
    assert "respond: 10/15 min met" in shown

    assert main(["incidents", "resolve", str(ident)]) == 0
    capsys.readouterr()
    assert main(["incidents", "list"]) == 0
    assert "no incidents" in capsys.readouterr().err
    assert main(["incidents", "list", "--all", "--json"]) == 0
    [doc] = [json.loads(capsys.readouterr().out)]
    assert doc["state"] == "resolved" and [e["kind"] for e in doc["events"]] == [
        "acknowledge",
        "resolve",
    ]
    assert main(["incidents", "list", "--customer", "globex"]) == 2
    assert "no customer with slug 'globex'" in capsys.readouterr().err
    assert main(["incidents", "show", "999"]) == 2
    assert main(["incidents", "resolve", "999"]) == 1
    assert "no incident 999" in capsys.readouterr().err


def test_every_incidents_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("list", "show", "ack", "resolve"):
        with pytest.raises(SystemExit) as exit_info:
            main(["incidents", command, "--help"])
        assert exit_info.value.code == 0
        assert "usage: uptally incidents" in capsys.readouterr().out
