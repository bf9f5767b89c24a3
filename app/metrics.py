"""``GET /metrics``: Prometheus text format, from a registry owned by the app, then
the probe and SLA families written by app.telemetry.

The scheduler and buffer keep plain counters; a collector reads them from the app's
``Runtime`` at scrape time, so nothing here is a module-level global.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import Receive, Scope, Send

from app.api.deps import RuntimeDep
from app.monitoring.buffer import ResultBuffer
from app.monitoring.scheduler import LAG_BUCKETS
from app.monitoring.server import ServerScheduler
from app.runtime import Runtime

router = APIRouter(tags=["metrics"])


def lag_histogram(registry: CollectorRegistry) -> Histogram:
    """The schedule-lag histogram the scheduler observes into."""
    return Histogram(
        "uptally_schedule_lag_seconds",
        "How late checks started against their schedule",
        buckets=LAG_BUCKETS,
        registry=registry,
    )


class AppCollector(Collector):
    """The scheduler's and the buffer's counters, read at scrape time (none while the
    app runs without a scheduler)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        scheduler = self.runtime.scheduler
        if scheduler is None:
            return
        yield from scheduler_metrics(scheduler)
        yield from buffer_metrics(scheduler.buffer)


def scheduler_metrics(scheduler: ServerScheduler) -> Iterator[Metric]:
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


def buffer_metrics(buffer: ResultBuffer) -> Iterator[Metric]:
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


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    """The process's counters, then per monitor and location the latest result, then
    per service its month's SLA gauges (app.telemetry). No database query: everything
    comes from memory kept up to date in the background."""
    return ChunksResponse(await runtime.exposition.render(), media_type=CONTENT_TYPE_PLAIN_0_0_4)


class ChunksResponse(Response):
    """A body sent as the chunks it was made of, with its Content-Length: at 100,000
    monitors the exposition is about 140 MB, and joining it is a copy for nothing."""

    def __init__(self, chunks: list[bytes], media_type: str) -> None:
        super().__init__(b"", media_type=media_type)
        self.chunks = chunks
        self.headers["content-length"] = str(sum(map(len, chunks)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
