"""The whole ``/metrics`` text: the registry's families (process counters, histograms),
then the probe and SLA families (app.telemetry.probes, .sla).

What the big families are written from is copied on the event loop (the latest
results, the figures by service; the roster's view is replaced, never changed in
place), and the text is written in a worker thread, so a scrape of 10,000 monitors
does not hold the loop that runs checks for its whole length. One scrape at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, generate_latest

from app.monitoring.latest import Latest, LatestResults, Pair
from app.monitoring.roster import MonitorEntry, MonitorRoster
from app.reporting.cache import CurrentMonthFigures
from app.reporting.compute import ServiceMonth
from app.telemetry.probes import ProbeFamilies
from app.telemetry.sla import SlaFamilies


class Exposition:
    def __init__(
        self,
        registry: CollectorRegistry,
        roster: MonitorRoster,
        latest: LatestResults,
        figures: CurrentMonthFigures,
    ) -> None:
        self.registry = registry
        self.roster = roster
        self.latest = latest
        self.figures = figures
        self.probes = ProbeFamilies()
        self.sla = SlaFamilies()
        self._lock = asyncio.Lock()

    async def render(self) -> bytes:
        async with self._lock:
            head = generate_latest(self.registry)
            entries = self.roster.entries()
            rows = self.latest.snapshot()
            items = dict(self.figures.items())
            tail = await asyncio.to_thread(self._families, entries, rows, items)
        return head + tail

    def _families(
        self,
        entries: Mapping[int, MonitorEntry],
        rows: Mapping[Pair, Latest],
        items: Mapping[int, ServiceMonth],
    ) -> bytes:
        return (self.probes.render(entries, rows) + self.sla.render(items)).encode()
