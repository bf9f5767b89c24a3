"""An outage's incident end to end, on both databases: a real ``uptally serve``
(uvicorn) probes a real local target; the target stops, an incident opens by itself at
the outage's first DOWN instant, an operator acknowledges it through the API, the
target comes back, and the incident resolves itself with ``restore_seconds`` equal to
the outage's length as the SLA endpoint reports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e_server import running_server
from tests.helpers import free_port
from tests.probes.conftest import serve_http
from tests.test_e2e_monitoring import ADMIN, PRIVATE_OK, catalog, figures, wait_for

pytestmark = pytest.mark.e2e


def incidents(url: str, service_id: int) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/incidents?service_id={service_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def checked(url: str, monitor_id: int) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/monitors/{monitor_id}/results", headers=ADMIN)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_an_outage_opens_an_incident_that_resolves_itself(db_url: str, tmp_path: Path) -> None:
    target_port = free_port()
    env = {**PRIVATE_OK, "UPTALLY_DISPATCH_INTERVAL_SECONDS": "0.5"}
    with running_server(db_url, tmp_path, env=env) as srv:
        with serve_http(port=target_port):
            service_id, monitor_id = catalog(srv.url, target=f"http://127.0.0.1:{target_port}/ok")
            wait_for(lambda: any(r["ok"] for r in checked(srv.url, monitor_id)), "a success")
            assert incidents(srv.url, service_id) == []
        # The target is gone: the next check fails and an incident opens by itself.
        [opened] = wait_for(lambda: incidents(srv.url, service_id), "an incident")
        assert opened["source"] == "monitor" and opened["state"] == "open"
        # Figures are as of now, whole seconds: an outage read in the second it began
        # has no length yet (seen once in CI), so wait for it to have one.
        [period] = wait_for(
            lambda: figures(srv.url, service_id)["downtime_periods"], "a downtime period"
        )
        assert opened["opened_at"] == period["start"]
        ack = httpx.post(
            f"{srv.url}/api/v1/incidents/{opened['id']}/events",
            json={"kind": "acknowledge"},
            headers=ADMIN,
        )
        assert ack.status_code == 201, ack.text
        with serve_http(port=target_port):
            [closed] = wait_for(
                lambda: [i for i in incidents(srv.url, service_id) if i["state"] == "resolved"],
                "the incident to resolve itself",
            )
        assert closed["id"] == opened["id"]
        assert closed["acknowledged_at"] is not None
        # Figures are as of now, whole seconds: an outage read in the second it began
        # has no length yet (seen once in CI), so wait for it to have one.
        [period] = wait_for(
            lambda: figures(srv.url, service_id)["downtime_periods"], "a downtime period"
        )
        assert closed["resolved_at"] == closed["restored_at"] == period["end"]
        assert closed["restore_seconds"] == period["seconds"] >= 5
        assert incidents(srv.url, service_id) == [closed]
