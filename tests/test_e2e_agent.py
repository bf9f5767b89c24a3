"""A sharded ``uptally agent`` process against a real ``uptally serve``: it probes its
shard only (the server filters), serves its own metrics over HTTP, and on SIGTERM
leaves with every result it took sent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e_server import running_server
from tests.helpers import free_port, policy_body, service_body
from tests.probes.conftest import serve_http
from tests.test_e2e_monitoring import ADMIN, PRIVATE_OK, create, wait_for

pytestmark = pytest.mark.e2e
UPTALLY = (sys.executable, "-m", "app.cli")


def agent_metrics(port: int) -> dict[str, float]:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.TransportError:
        return {}
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("location") == "edge" and "le" not in sample.labels
    }


def stored_monitors(database: Path) -> set[int]:
    with sqlite3.connect(database) as db:
        return {row[0] for row in db.execute("SELECT DISTINCT monitor_id FROM check_results")}


def test_a_sharded_agent_probes_its_shard_and_reports_its_metrics(tmp_path: Path) -> None:
    database = tmp_path / "server.db"
    url_db = f"sqlite+aiosqlite:///{database}"
    target_port, metrics_port = free_port(), free_port()
    with serve_http(port=target_port), running_server(url_db, tmp_path, env=PRIVATE_OK) as srv:
        customer = create(srv.url, "/api/v1/customers", {"slug": "acme", "name": "Acme"})
        policy = create(srv.url, "/api/v1/sla-policies", policy_body(name="strict"))
        service = create(srv.url, "/api/v1/services", service_body(customer["id"], policy["id"]))
        ids = [
            create(
                srv.url,
                "/api/v1/monitors",
                {
                    "service_id": service["id"],
                    "name": f"site {n}",
                    "kind": "http",
                    "target": f"http://127.0.0.1:{target_port}/ok",
                    "interval_seconds": 60,
                    "locations": ["edge"],
                },
            )["id"]
            for n in range(4)
        ]
        mine = {ident for ident in ids if ident % 2 == 1}
        token = subprocess.run(
            [*UPTALLY, "keys", "create", "--scope", "agent", "--location", "edge"],
            env={**os.environ, "UPTALLY_DATABASE_URL": url_db},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        log = tmp_path / "agent.log"
        with log.open("wb") as out:
            agent = subprocess.Popen(
                [
                    *UPTALLY,
                    "agent",
                    *("--server", srv.url, "--location", "edge", "--shard", "1/2"),
                    *("--spread", "1", "--allow-private", "--poll", "1"),
                    *("--buffer", str(tmp_path / "agent.db")),
                    *("--metrics-listen", f"127.0.0.1:{metrics_port}"),
                ],
                env={**os.environ, "UPTALLY_AGENT_TOKEN": token},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            seen = wait_for(
                lambda: (
                    (m := agent_metrics(metrics_port)).get("uptally_agent_checks_total", 0)
                    >= len(mine)
                    and m
                ),
                "the shard's first checks",
            )
            assert seen["uptally_agent_assigned_monitors"] == len(mine)
            assert seen["uptally_agent_shed_total"] == 0
            assert seen["uptally_agent_check_lag_seconds_count"] >= len(mine)
            assert seen["uptally_agent_last_poll_timestamp_seconds"] > 0
        finally:
            agent.send_signal(signal.SIGTERM)
            code = agent.wait(timeout=30)
        assert code == 0, log.read_text()[-2000:]
        # Everything it checked went to the server before it left (the last tick, then
        # the last send): the shard's monitors, and no other.
        assert stored_monitors(database) == mine, log.read_text()[-2000:]
        with sqlite3.connect(tmp_path / "agent.db") as buffer:
            assert buffer.execute("SELECT count(*) FROM pending").fetchone()[0] == 0
        listed = httpx.get(
            f"{srv.url}/api/v1/agent/monitors?location=edge&shard=1/2", headers=ADMIN
        ).json()
        assert {item["id"] for item in listed["items"]} == mine
