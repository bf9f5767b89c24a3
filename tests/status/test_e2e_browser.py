"""The status page in headless Chromium, served by a real ``uptally serve``: what a
person sees (the banner, every service's name, 90 bars each), on a phone and on a
wide screen. Screenshots land in test-artifacts/ for a human to look at."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e_server import running_server
from tests.helpers import policy_body, service_body
from tests.status.browser import chromium, rendered_dom, screenshot

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer test-admin-token"}
HOUR = timedelta(hours=1)


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def hourly(monitor_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows, moment = [], start
    while moment < end:
        rows.append(result(monitor_id, moment, True))
        moment += HOUR
    return rows


def result(monitor_id: int, moment: datetime, ok: bool) -> dict[str, Any]:
    return {
        "monitor_id": monitor_id,
        "location": "probe-eu",
        "checked_at": z(moment),
        "ok": ok,
        "interval_seconds": 3600,
    }


def seed(client: httpx.Client, now: datetime) -> None:
    """Northwind: four services; the website had a 42-minute outage three days ago,
    the API a scheduled maintenance tomorrow, mail is down now, backups began 40 days
    ago."""

    def create(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    customer = create(
        "/api/v1/customers",
        {"slug": "northwind", "name": "Northwind Hosting", "timezone": "Europe/Berlin"},
    )
    policy = create("/api/v1/sla-policies", policy_body(min_downtime_seconds=0))
    start = (now - timedelta(days=95)).replace(minute=0, second=0, microsecond=0)
    services = {}
    for slug, name, begins in (
        ("web", "Website", start),
        ("api", "Customer API", start),
        ("mail", "Mail", start),
        ("backups", "Backups", now - timedelta(days=40)),
    ):
        service = create(
            "/api/v1/services",
            service_body(customer["id"], policy["id"], slug=slug, name=name, starts_at=z(begins)),
        )
        monitor = create(
            "/api/v1/monitors",
            {
                "service_id": service["id"],
                "name": f"{name} check",
                "kind": "http",
                "target": f"https://{slug}.northwind.example/",
                "locations": ["probe-eu"],
            },
        )
        services[slug] = (service, monitor["id"], begins)
    rows: list[dict[str, Any]] = []
    for _, monitor_id, begins in services.values():
        hour = begins.replace(minute=0, second=0, microsecond=0)
        rows += hourly(monitor_id, hour, now - timedelta(minutes=30))
    outage = (now - timedelta(days=3)).replace(minute=5, second=0, microsecond=0)
    rows += [
        result(services["web"][1], outage, False),
        result(services["web"][1], outage + timedelta(minutes=42), True),
        result(services["mail"][1], now - timedelta(minutes=20), False),
    ]
    for i in range(0, len(rows), 5000):
        response = client.post(
            "/api/v1/results", json={"results": rows[i : i + 5000]}, headers=ADMIN
        )
        assert response.status_code == 202, response.text
    tomorrow = (now + timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
    create(
        "/api/v1/maintenance-windows",
        {
            "service_id": services["api"][0]["id"],
            "title": "Database upgrade",
            "starts_at": z(tomorrow),
            "ends_at": z(tomorrow + HOUR),
        },
    )


def test_status_page_in_chromium(tmp_path: Path) -> None:
    chromium()  # skips, saying why, where no Chromium can be installed
    url = f"sqlite+aiosqlite:///{tmp_path / 'uptally.db'}"
    env = {"UPTALLY_STATUS_MAX_AGE_SECONDS": "1", "UPTALLY_FOLD_INTERVAL_SECONDS": "0.5"}
    with running_server(url, tmp_path, env=env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            seed(client, datetime.now(UTC))
            deadline = time.monotonic() + 30
            while True:  # until the folder has caught up with the pushed results
                document = client.get("/api/v1/status/northwind").json()
                mail = next(s for s in document["services"] if s["slug"] == "mail")
                if mail["status"] == "down" or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert document["status"] == "partial_outage", document["status"]

        page = f"{server.url}/status/northwind"
        dom = rendered_dom(page)
        assert 'data-status="partial_outage"' in dom and "Partial outage" in dom
        for name in ("Website", "Customer API", "Mail", "Backups"):
            assert f'<span class="name">{name}</span>' in dom, name
        sections = re.findall(
            r'<section class="service" data-service="([a-z]+)">(.*?)</section>', dom, re.S
        )
        assert [slug for slug, _ in sections] == ["web", "api", "mail", "backups"]
        for slug, body in sections:
            assert len(re.findall(r'class="bar [a-z]+"', body)) == 90, slug
        # Backups began 40 days ago: the 50 days before have no bar colour.
        backups = dict(sections)["backups"]
        assert len(re.findall(r'class="bar none"', backups)) in (49, 50, 51)
        assert "Database upgrade" in dom and "Scheduled" in dom

        for name, width, height in (
            ("status-phone.png", 390, 1700),
            ("status-wide.png", 1280, 1500),
        ):
            shot = screenshot(page, name, width, height)
            assert shot.stat().st_size > 10_000, f"{shot} looks empty"

        # The monthly report, as a customer would print it (A4 is about 794 px wide).
        month = datetime.now(UTC).strftime("%Y-%m")
        with httpx.Client(base_url=server.url, timeout=30, headers=ADMIN) as client:
            [customer] = client.get("/api/v1/customers").json()["items"]
            report = client.get(
                f"/api/v1/customers/{customer['id']}/report?month={month}&format=html"
            )
        assert report.status_code == 200 and "Service level report" in report.text
        html = tmp_path / "report.html"
        html.write_text(report.text)
        assert "Mail" in rendered_dom(html.as_uri())
        screenshot(html.as_uri(), "report-a4.png", 794, 1800)
