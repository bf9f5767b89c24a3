"""``GET /metrics``: Prometheus text format, from a registry owned by the app.

The scheduler and buffer keep plain counters; a collector reads them at scrape
time, so nothing here is a module-level global.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

router = APIRouter(tags=["metrics"])

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class AppCollector(Collector):
    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        scheduler = getattr(self.state, "scheduler", None)
        if scheduler is None:
            return
        location = scheduler.location
        checks = CounterMetricFamily(
            "uptally_checks", "Checks run by this process", labels=["location"]
        )
        checks.add_metric([location], scheduler.stats["checks"])
        yield checks
        shed = CounterMetricFamily(
            "uptally_checks_shed",
            "Scheduled checks skipped because the previous run of the same monitor was still "
            "going or the run came too late (overload sheds evenly across monitors)",
            labels=["location"],
        )
        shed.add_metric([location], scheduler.stats["shed"])
        yield shed
        monitors = GaugeMetricFamily(
            "uptally_scheduled_monitors", "Monitors scheduled here", labels=["location"]
        )
        monitors.add_metric([location], len(scheduler.specs))
        yield monitors
        buffer = scheduler.buffer
        yield GaugeMetricFamily(
            "uptally_results_pending", "Results waiting to be written", value=len(buffer.pending)
        )
        yield CounterMetricFamily(
            "uptally_results_written", "Results written by the buffer", value=buffer.written
        )
        yield CounterMetricFamily(
            "uptally_results_dropped",
            "Results dropped because the buffer was full while the database was unreachable",
            value=buffer.dropped,
        )


def build_registry(state: Any) -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    registry.register(AppCollector(state))
    lag = Histogram(
        "uptally_schedule_lag_seconds",
        "How late checks started against their schedule",
        buckets=LAG_BUCKETS,
        registry=registry,
    )
    return registry, lag


@router.get("/metrics", include_in_schema=True)
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
