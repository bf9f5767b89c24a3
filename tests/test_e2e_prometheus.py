"""A real Prometheus scrapes a real ``uptally serve`` and answers a PromQL query for
the SLA gauge, equal to the SLA endpoint's figure (Debian's ``prometheus`` package;
.ci/run installs it)."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.sla.periods import utc_text
from tests.e2e_server import running_server
from tests.helpers import free_port
from tests.test_e2e_monitoring import ADMIN, catalog, wait_for

pytestmark = pytest.mark.e2e


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    try:
        response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    except httpx.TransportError:
        return []
    if response.status_code != 200:
        return []
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def test_prometheus_scrapes_the_sla_gauges_and_answers_them_back(tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip(
            "prometheus is not installed (Debian: apt-get install prometheus; .ci/run does)"
        )
    env = {"UPTALLY_FOLD_INTERVAL_SECONDS": "0.5", "UPTALLY_SCHEDULER_ENABLED": "false"}
    with running_server(f"sqlite+aiosqlite:///{tmp_path}/e2e.db", tmp_path, env=env) as srv:
        service_id, monitor_id = catalog(srv.url, target="https://shop.acme.example/")
        now = int(time.time())
        # Ten minutes down, then up: a known outage this month.
        rows = [
            {
                "monitor_id": monitor_id,
                "location": "local",
                "checked_at": utc_text(now - ago),
                "ok": ok,
            }
            for ago, ok in [(900, True), *((a, False) for a in range(890, 290, -10)), (290, True)]
        ]
        rows += [
            {
                "monitor_id": monitor_id,
                "location": "local",
                "checked_at": utc_text(now - ago),
                "ok": True,
            }
            for ago in range(280, -1, -10)
        ]
        response = httpx.post(f"{srv.url}/api/v1/results", json={"results": rows}, headers=ADMIN)
        assert response.status_code == 202, response.text
        month = datetime.now(UTC).strftime("%Y-%m")
        sla = httpx.get(
            f"{srv.url}/api/v1/services/{service_id}/sla?month={month}", headers=ADMIN
        ).json()
        assert sla["downtime_seconds"] == 600
        wait_for(
            lambda: "uptally_sla_uptime_ratio{" in httpx.get(f"{srv.url}/metrics").text,
            "the gauge on /metrics",
        )

        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: uptally\n"
            f"    static_configs:\n      - targets: ['{srv.url.removeprefix('http://')}']\n"
        )
        log = (tmp_path / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            prometheus = f"http://127.0.0.1:{port}"
            found = wait_for(
                lambda: query(
                    prometheus, 'uptally_sla_uptime_ratio{customer="acme",service="web"}'
                ),
                "Prometheus to answer with the scraped gauge",
                60,
            )
            target = query(prometheus, "up")
        finally:
            process.terminate()
            process.wait(timeout=15)
            log.close()
    (sample,) = found
    ratio = Decimal(sample["value"][1]) * 100
    assert (
        Decimal(sla["uptime_percent"]) <= ratio < Decimal(sla["uptime_percent"]) + Decimal("0.0001")
    )
    assert target and target[0]["value"][1] == "1"  # the scrape itself was healthy
