"""/metrics in Prometheus text format, parsed with prometheus-client's own parser."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api
from tests.helpers import make_monitor, make_service, until


def samples(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_checks_lag_and_shed_runs(
    live: tuple[Api, Any],
    http_url: str,
) -> None:
    api, app = live
    scheduler = app.state.runtime.scheduler
    service_id = (await make_service(api))["service"]["id"]
    slow = await make_monitor(api, service_id, f"{http_url}/slow/0.5", timeout_seconds=5)
    job = scheduler.scheduler.get_job(f"monitor-{slow['id']}")
    # Fire now; while that run waits on the 0.5 s response, fire again: APScheduler must
    # skip the second run (max_instances=1), and the skip is counted as shed.
    job.modify(next_run_time=datetime.now(UTC))
    await until(lambda: scheduler.in_flight == 1, "the first run to start its check")
    job.modify(next_run_time=datetime.now(UTC))
    await until(lambda: scheduler.stats["shed"] == 1, "the second run to be shed")
    assert scheduler.stats["checks"] == 0, "the first run ended before the second fired"
    await until(lambda: scheduler.stats["checks"] == 1, "the first run to finish")
    await scheduler.buffer.flush()

    response = await api.call("GET", "/metrics", token=None, expect=200)
    assert response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    assert values["uptally_checks_total"] == 1
    assert values["uptally_checks_shed_total"] == 1
    assert values["uptally_scheduled_monitors"] == 1
    assert values["uptally_results_written_total"] == 1
    assert values["uptally_results_pending"] == 0
    assert values["uptally_schedule_lag_seconds_count"] == 1  # the shed run never started


async def test_metrics_answer_without_a_scheduler(api: Api) -> None:
    response = await api.call("GET", "/metrics", token=None, expect=200)
    assert "uptally_schedule_lag_seconds" in response.text
