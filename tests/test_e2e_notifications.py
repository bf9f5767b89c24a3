"""Notifications end to end: a real ``uptally serve`` probes a real local target that
goes down and comes back; Apprise delivers to real local webhooks (``json://``). One
channel works, one hangs and then fails: the working one gets exactly one down and one
up message, the failing one is retried, and the checks keep their schedule."""

from __future__ import annotations

import sqlite3
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from tests.e2e_server import running_server
from tests.helpers import free_port
from tests.notifications.receiver import receiving
from tests.probes.conftest import serve_http
from tests.test_e2e_monitoring import ADMIN, catalog, wait_for

pytestmark = pytest.mark.e2e
FAST = {
    "UPTALLY_ALLOW_PRIVATE_TARGETS": "true",
    "UPTALLY_FOLD_INTERVAL_SECONDS": "0.5",
    "UPTALLY_DISPATCH_INTERVAL_SECONDS": "0.5",
    "UPTALLY_NOTIFY_INTERVAL_SECONDS": "0.5",
    "UPTALLY_NOTIFY_RETRY_SECONDS": "1",
    "UPTALLY_NOTIFY_TIMEOUT_SECONDS": "3",
}


def checked_at(database: Path) -> list[int]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("SELECT checked_at FROM check_results ORDER BY 1")]


def test_a_target_down_and_up_is_told_once_each_and_a_failing_channel_delays_nothing(
    tmp_path: Path,
) -> None:
    target = free_port()
    database = tmp_path / "e2e.db"
    with (
        receiving() as good,
        receiving(statuses=[500] * 100, delay=4.0) as bad,
        running_server(f"sqlite+aiosqlite:///{database}", tmp_path, env=FAST) as srv,
    ):
        service_id, _ = catalog(srv.url, target=f"http://127.0.0.1:{target}/ok")
        customer_id = httpx.get(f"{srv.url}/api/v1/services/{service_id}", headers=ADMIN).json()[
            "customer_id"
        ]
        for path, url, events in (
            (f"/api/v1/services/{service_id}/notifications", good.url, ["down", "up"]),
            (f"/api/v1/customers/{customer_id}/notifications", bad.url, ["down", "up"]),
        ):
            channels = {"channels": [{"url": url, "events": events}]}
            response = httpx.put(f"{srv.url}{path}", json=channels, headers=ADMIN)
            assert response.status_code == 200, response.text
        with serve_http(port=target):
            wait_for(lambda: len(checked_at(database)) >= 2, "two successful checks")
        wait_for(lambda: good.titles() == ["DOWN: Acme / Web"], "the down message", 90)
        with serve_http(port=target):
            wait_for(lambda: len(good.titles()) == 2, "the up message", 90)
            wait_for(lambda: len(bad.received) >= 3, "the failing channel's retries", 60)
            stamps = checked_at(database)
        log = srv.log.read_text()

    assert good.titles() == ["DOWN: Acme / Web", "UP: Acme / Web"], log[-3000:]
    assert all(status == 500 for status in bad.answered)
    # The schedule held while a channel hung for 4 s on every try: a check every 10 s.
    gaps = [b - a for a, b in pairwise(stamps)]
    assert gaps and max(gaps) <= 12, gaps
