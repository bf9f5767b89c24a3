"""The agent's own Prometheus metrics, served on ``--metrics-listen HOST:PORT`` (off by
default): whether it keeps up (checks, shed runs, how late runs start), whether it
gets its results out (rows waiting, the last accepted send) and its assignment in
(the last answered poll, monitors assigned).

Counters that the scheduler already keeps (checks, shed) are read at scrape time, not
counted twice per check; the lag histogram is the one thing observed per check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.monitoring.scheduler import LAG_BUCKETS


@dataclass(frozen=True)
class Readings:
    """What the collector reads at scrape time (callables into the running agent)."""

    stats: Callable[[], dict[str, int]]  # the scheduler's {"checks": n, "shed": n}
    pending: Callable[[], int]  # results not sent yet (disk buffer and memory)
    assigned: Callable[[], int]  # monitors scheduled


class _Readings(Collector):
    def __init__(self, location: str, readings: Readings) -> None:
        self.location = location
        self.readings = readings

    def collect(self) -> Iterator[Any]:
        labels = ["location"]
        stats = self.readings.stats()
        checks = CounterMetricFamily(
            "uptally_agent_checks", "Checks run by this agent", labels=labels
        )
        checks.add_metric([self.location], stats.get("checks", 0))
        shed = CounterMetricFamily(
            "uptally_agent_shed",
            "Scheduled runs skipped because they would have started too late",
            labels=labels,
        )
        shed.add_metric([self.location], stats.get("shed", 0))
        pending = GaugeMetricFamily(
            "uptally_agent_buffer_pending_rows",
            "Results not yet accepted by the server (disk buffer and memory)",
            labels=labels,
        )
        pending.add_metric([self.location], self.readings.pending())
        assigned = GaugeMetricFamily(
            "uptally_agent_assigned_monitors", "Monitors this agent probes", labels=labels
        )
        assigned.add_metric([self.location], self.readings.assigned())
        yield from (checks, shed, pending, assigned)


class AgentMetrics:
    """The agent's registry (its own, never the global one) and the values the runner
    sets as things happen."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.registry = CollectorRegistry()
        self.lag = Histogram(
            "uptally_agent_check_lag_seconds",
            "How late scheduled checks started",
            ["location"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        ).labels(location)
        self.last_send = Gauge(
            "uptally_agent_last_send_timestamp_seconds",
            "When the server last accepted a batch of results (0: not yet)",
            ["location"],
            registry=self.registry,
        ).labels(location)
        self.last_poll = Gauge(
            "uptally_agent_last_poll_timestamp_seconds",
            "When the server last answered an assignment poll (0: not yet)",
            ["location"],
            registry=self.registry,
        ).labels(location)

    def read(self, readings: Readings) -> None:
        """Expose the counts read at scrape time."""
        self.registry.register(_Readings(self.location, readings))

    def serve(self, host: str, port: int) -> Callable[[], None]:
        """Serve the registry over HTTP (``GET /metrics``, in a thread); returns the
        function that stops it."""
        server, thread = start_http_server(port, host, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6) as (host, port); ValueError if not."""
    host, sep, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:9108, not {text!r}")
    return host, int(port_text)
