"""Monitoring end to end, as it runs in production: a real ``uptally serve`` (uvicorn)
probing a real local target, and a real ``uptally agent`` process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e_server import running_server
from tests.helpers import free_port, policy_body, service_body
from tests.probes.conftest import serve_http

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer test-admin-token"}
PRIVATE_OK = {"UPTALLY_ALLOW_PRIVATE_TARGETS": "true", "UPTALLY_FOLD_INTERVAL_SECONDS": "0.5"}


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def create(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}{path}", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def catalog(url: str, **monitor: Any) -> tuple[int, int]:
    month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    customer = create(url, "/api/v1/customers", {"slug": "acme", "name": "Acme"})
    policy = create(url, "/api/v1/sla-policies", policy_body(name="strict", min_downtime_seconds=0))
    service = create(
        url,
        "/api/v1/services",
        service_body(customer["id"], policy["id"], starts_at=month_start.isoformat()),
    )
    created = create(
        url,
        "/api/v1/monitors",
        {
            "service_id": service["id"],
            "name": "home",
            "kind": "http",
            "interval_seconds": 10,
            "timeout_seconds": 2,
            **monitor,
        },
    )
    return service["id"], created["id"]


def figures(url: str, service_id: int) -> dict[str, Any]:
    month = datetime.now(UTC).strftime("%Y-%m")
    response = httpx.get(f"{url}/api/v1/services/{service_id}/sla?month={month}", headers=ADMIN)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_a_stopped_target_shows_as_a_downtime_period_that_ends_when_it_is_back(
    tmp_path: Path,
) -> None:
    target_port = free_port()
    with running_server(f"sqlite+aiosqlite:///{tmp_path}/e2e.db", tmp_path, env=PRIVATE_OK) as srv:
        with serve_http(port=target_port):
            service_id, _ = catalog(srv.url, target=f"http://127.0.0.1:{target_port}/ok")
            wait_for(
                lambda: (
                    figures(srv.url, service_id)["no_data_seconds"] < 3600 * 24 * 31
                    and _has_results(tmp_path / "e2e.db")
                ),
                "a first successful check",
            )
            assert figures(srv.url, service_id)["downtime_periods"] == []
        # The target is down: the next checks fail and a downtime period opens.
        opened = wait_for(
            lambda: figures(srv.url, service_id)["downtime_periods"], "a downtime period"
        )
        assert len(opened) == 1
        with serve_http(port=target_port):

            def ended() -> Any:
                data = figures(srv.url, service_id)
                periods = data["downtime_periods"]
                return periods and periods[-1]["end"] < data["as_of"] and periods

            closed = wait_for(ended, "the downtime period to end")
        assert closed[-1]["start"] == opened[0]["start"]
        assert closed[-1]["seconds"] >= 5


def _has_results(database: Path) -> bool:
    with sqlite3.connect(database) as db:
        return bool(db.execute("SELECT count(*) FROM check_results").fetchone()[0])


def _count(database: Path, table: str) -> int:
    try:
        with sqlite3.connect(database) as db:
            count: int = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            return count
    except sqlite3.OperationalError:
        return 0


def _checked_at(database: Path) -> set[int]:
    with sqlite3.connect(database) as db:
        return {row[0] for row in db.execute("SELECT checked_at FROM check_results")}


def start_agent(url: str, token: str, buffer: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "agent",
                "--server",
                url,
                "--token",
                token,
                "--location",
                "edge",
                "--buffer",
                str(buffer),
                "--poll",
                "1",
                "--spread",
                "0",
                "--allow-private",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=15)


def pending_instants(buffer: Path) -> set[int]:
    with sqlite3.connect(buffer) as db:
        return {json.loads(row[0])["checked_at"] for row in db.execute("SELECT row FROM pending")}


def test_an_agent_killed_and_restarted_while_the_server_is_down_loses_nothing(
    tmp_path: Path,
) -> None:
    database = tmp_path / "server.db"
    url_db = f"sqlite+aiosqlite:///{database}"
    buffer, log = tmp_path / "agent.db", tmp_path / "agent.log"
    server_port, target_port = free_port(), free_port()
    server_url = f"http://127.0.0.1:{server_port}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with serve_http(port=target_port):
            with running_server(url_db, tmp_path, port=server_port):
                catalog(server_url, target=f"http://127.0.0.1:{target_port}/ok", locations=["edge"])
                token = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "app.cli",
                        "keys",
                        "create",
                        "--scope",
                        "agent",
                        "--location",
                        "edge",
                    ],
                    env={**os.environ, "UPTALLY_DATABASE_URL": url_db},
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                processes.append(start_agent(server_url, token, buffer, log))
                wait_for(lambda: _count(database, "check_results") >= 1, "the agent's first result")
            # The server is down now. The agent keeps probing into its buffer...
            wait_for(lambda: _count(buffer, "pending") >= 1, "a buffered result")
            processes[0].send_signal(signal.SIGKILL)  # ... and dies without warning.
            processes[0].wait()
            before_restart = _count(buffer, "pending")
            # Restarted while the server is still down: it probes on from the saved
            # assignment.
            processes.append(start_agent(server_url, token, buffer, log))
            wait_for(
                lambda: _count(buffer, "pending") > before_restart,
                "a result from the restarted agent",
            )
            waiting = pending_instants(buffer)
            with running_server(url_db, tmp_path, port=server_port):
                wait_for(lambda: _count(buffer, "pending") == 0, "the buffer to drain")
                stored = _checked_at(database)
    finally:
        for process in processes:
            stop(process)
    assert len(waiting) >= 2
    assert waiting <= stored, (waiting - stored, log.read_text()[-2000:])
