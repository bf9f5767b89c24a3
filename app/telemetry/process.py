"""How this process is doing, beyond the scheduler's own counters (app.metrics):
ingestion (batch sizes and how long storing them took, by source), the fold backlog
(results stored but not yet in the timeline) and the notification outbox.

Histograms are observed where the work happens; the backlog and the outbox are
counted by the upkeep loop (app.telemetry.upkeep) every few seconds, so a scrape never
waits on the database.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

ROW_BUCKETS = (1, 10, 100, 1000, 10_000)
SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# Where a batch came from: remote agents (the API), this process's scheduler (its
# buffer, the watchdog and the spool included) or a heartbeat ping.
SOURCES = ("api", "scheduler", "heartbeat")


class ProcessStats(Collector):
    """Ingestion histograms, sampled backlog gauges and delivery counters."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_rows = Histogram(
            "uptally_ingest_batch_rows",
            "Results per stored batch, by source",
            labelnames=["source"],
            buckets=ROW_BUCKETS,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "uptally_ingest_batch_seconds",
            "How long storing a batch took (validation, INSERT, commit), by source",
            labelnames=["source"],
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        # Sampled by the upkeep loop; None until the first sample.
        self.fold_backlog: int | None = None
        self.fold_backlog_age: int | None = None
        self.state_changes_pending: int | None = None
        self.outbox_pending: int | None = None
        # Counted by this process's delivery loop.
        self.delivered = 0
        self.attempts_failed = 0
        self.given_up = 0
        registry.register(self)

    def ingested(self, source: str, rows: int, seconds: float) -> None:
        self.batch_rows.labels(source).observe(rows)
        self.batch_seconds.labels(source).observe(seconds)

    def collect(self) -> Iterator[Metric]:
        sampled = (
            (
                "uptally_fold_backlog_batches",
                "Stored batches not yet folded into the timeline (the dirty_marks log)",
                self.fold_backlog,
            ),
            (
                "uptally_fold_backlog_age_seconds",
                "How long the oldest batch not yet folded has waited",
                self.fold_backlog_age,
            ),
            (
                "uptally_state_changes_pending",
                "State changes due but not yet handed to notifications and incidents",
                self.state_changes_pending,
            ),
            (
                "uptally_notifications_pending",
                "Notification deliveries waiting to be sent or retried",
                self.outbox_pending,
            ),
        )
        for name, help_text, sample in sampled:
            if sample is not None:
                yield GaugeMetricFamily(name, help_text, value=sample)
        yield CounterMetricFamily(
            "uptally_notifications_delivered",
            "Notification deliveries sent by this process",
            value=self.delivered,
        )
        yield CounterMetricFamily(
            "uptally_notification_attempts_failed",
            "Delivery attempts that failed (each is retried with back-off until the last)",
            value=self.attempts_failed,
        )
        yield CounterMetricFamily(
            "uptally_notifications_given_up",
            "Notification deliveries given up after their last attempt",
            value=self.given_up,
        )
