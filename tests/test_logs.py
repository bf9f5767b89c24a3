"""Logging: quiet per check, one line per confirmed state change naming the monitor,
and JSON lines on request (UPTALLY_LOG_FORMAT=json), from a real server."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.logs import JsonFormatter, configure_logging
from app.monitoring.dispatch import Change, describe
from app.monitoring.roster import MonitorEntry, MonitorRoster
from tests.e2e_server import running_server

ADMIN = {"Authorization": "Bearer test-admin-token"}


def test_a_change_is_described_by_name_with_its_reason() -> None:
    roster = MonitorRoster()
    roster._entries = {
        3: MonitorEntry(3, "home", "http", True, 60, ("fra",), 2, "shop", "Shop", 1, "acme", "Acme")
    }
    change = Change(7, "monitor", 3, 1_767_225_600, "up", "down", "failing at 1 location(s): fra")
    line, fields = describe(change, roster)
    assert line == (
        "monitor 3 'home' (acme/shop): up -> down at 2026-01-01T00:00:00Z: "
        "failing at 1 location(s): fra"
    )
    assert fields["monitor"] == "home" and fields["new"] == "down"
    service = Change(8, "service", 2, 1_767_225_600, "up", "down", "monitor(s) down: home")
    assert describe(service, roster)[0].startswith("service 2 acme/shop: up -> down at ")
    assert describe(service)[0].startswith("service 2: up -> down at ")  # no roster: ids


def test_a_service_change_names_the_service_as_the_roster_is_now() -> None:
    """Services are found through an index of the roster (a scan per change cost
    seconds at 100,000 monitors), rebuilt when the roster is replaced."""
    roster = MonitorRoster()

    def entry(monitor: int, service: int, slug: str) -> MonitorEntry:
        return MonitorEntry(
            monitor, "home", "http", True, 60, ("fra",), service, slug, "S", 1, "acme", "Acme"
        )

    roster.replace({3: entry(3, 2, "shop"), 4: entry(4, 5, "blog")}, 0.0)
    change = Change(8, "service", 5, 1_767_225_600, "up", "down", "monitor(s) down: home")
    assert describe(change, roster)[0].startswith("service 5 acme/blog: up -> down")
    roster.replace({3: entry(3, 2, "shop"), 4: entry(4, 5, "journal")}, 1.0)
    assert describe(change, roster)[0].startswith("service 5 acme/journal: up -> down")
    roster.replace({3: entry(3, 2, "shop")}, 2.0)
    assert describe(change, roster)[0].startswith("service 5: up -> down")


def test_json_lines_carry_the_extra_fields_and_the_exception() -> None:
    record = logging.LogRecord("app.x", logging.ERROR, __file__, 1, "failed %s", ("x",), None)
    record.monitor = "home"
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "error" and entry["logger"] == "app.x"
    assert entry["message"] == "failed x" and entry["monitor"] == "home"
    assert entry["time"].endswith("Z") and "ValueError: boom" in entry["exception"]


def test_per_check_loggers_are_quiet_unless_debugging() -> None:
    root = logging.getLogger()
    level = root.level
    try:
        configure_logging("info", "text")
        assert logging.getLogger("apscheduler.executors.default").getEffectiveLevel() == 30
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
        configure_logging("debug", "text")
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.DEBUG
    finally:
        configure_logging("info", "text")
        root.setLevel(level)


@pytest.mark.e2e
def test_a_server_logs_json_and_one_line_per_state_change(tmp_path: Path) -> None:
    database = tmp_path / "logs.db"
    env = {"UPTALLY_LOG_FORMAT": "json", "UPTALLY_ALLOW_PRIVATE_TARGETS": "true"}
    with running_server(f"sqlite+aiosqlite:///{database}", tmp_path, env=env) as server:
        api = f"{server.url}/api/v1"
        customer = httpx.post(
            f"{api}/customers", json={"slug": "acme", "name": "Acme"}, headers=ADMIN
        )
        policy = httpx.post(
            f"{api}/sla-policies",
            json={
                "name": "P",
                "target_percent": "99",
                "credit_tiers": [{"from_percent": "0", "to_percent": "99", "credit_percent": "10"}],
            },
            headers=ADMIN,
        )
        service = httpx.post(
            f"{api}/services",
            json={
                "customer_id": customer.json()["id"],
                "policy_id": policy.json()["id"],
                "name": "Shop",
                "slug": "shop",
                "monthly_fee": "10.00",
            },
            headers=ADMIN,
        )
        monitor = httpx.post(
            f"{api}/monitors",
            json={
                "service_id": service.json()["id"],
                "name": "dead port",
                "kind": "tcp",
                "target": "127.0.0.1:9",
                "interval_seconds": 10,
                "timeout_seconds": 2,
            },
            headers=ADMIN,
        )
        assert monitor.status_code == 201, monitor.text
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if "-> down" in server.log.read_text() and "service" in server.log.read_text():
                break
            time.sleep(0.5)
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]
    changes = [e for e in lines if e.get("event") == "state_change"]
    assert [(c["subject"], c["old"], c["new"]) for c in changes] == [
        ("monitor", "no_data", "down"),
        ("service", "no_data", "down"),
    ], changes
    assert changes[0]["monitor"] == "dead port" and changes[0]["customer"] == "acme"
    assert "quorum 1: local" in changes[0]["reason"]
    assert not [e for e in lines if e["logger"].startswith(("apscheduler", "httpx"))]
    assert {e["logger"] for e in lines} >= {"uvicorn.error", "uvicorn.access"}
