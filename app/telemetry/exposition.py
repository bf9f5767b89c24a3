"""The whole ``/metrics`` text: the registry's families (process counters, histograms),
then the probe and SLA families (app.telemetry.probes, .sla).

The probe series are kept between scrapes and written again only for the pairs whose
result or roster entry changed since (taken on the event loop from
``LatestResults.take_fresh`` and ``MonitorRoster.take_touched``, with the rows they
need); the writing and the join happen in a worker thread, so a scrape of 100,000
monitors does not hold the loop that runs checks. ``refresh`` does the writing ahead
of time (``run`` calls it every few seconds), so a scrape mostly joins. One writer at
a time: an asyncio lock for the loop's side, a thread lock for the kept series (a
cancelled scrape's thread may still be finishing).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from prometheus_client import CollectorRegistry, generate_latest

from app.monitoring.latest import Latest, LatestResults, Pair
from app.monitoring.roster import MonitorEntry, MonitorRoster
from app.reporting.cache import CurrentMonthFigures
from app.reporting.compute import ServiceMonth
from app.telemetry.probes import ProbeFamilies
from app.telemetry.sla import SlaFamilies

REFRESH_SECONDS = 5.0

T = TypeVar("T")


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
        self._writing = threading.Lock()

    async def render(self) -> list[bytes]:
        """The text as chunks, in order (joined, they are the whole exposition)."""
        async with self._lock:
            head = generate_latest(self.registry)
            entries, rows = self._changes()
            items = dict(self.figures.items())
            tail = await self._in_thread(self._families, rows, entries, items)
        return [head, *tail]

    async def refresh(self) -> None:
        """Write the series that changed since the last scrape or refresh."""
        async with self._lock:
            entries, rows = self._changes()
            if rows:
                await self._in_thread(self._update, rows, entries)

    async def run(self, stop: asyncio.Event, every: float = REFRESH_SECONDS) -> None:
        while not stop.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    def _changes(self) -> tuple[Mapping[int, MonitorEntry], dict[Pair, Latest | None]]:
        """On the loop: the pairs to write again and their rows (None: none now)."""
        pairs = self.latest.take_fresh()
        for monitor_id in self.roster.take_touched():
            pairs |= self.probes.pairs_of(monitor_id)
            pairs.update(
                (monitor_id, location) for location in self.latest.locations_of(monitor_id)
            )
        return self.roster.entries(), {pair: self.latest.get(pair) for pair in pairs}

    async def _in_thread(
        self, work: Callable[..., T], rows: Mapping[Pair, Latest | None], *args: object
    ) -> T:
        try:
            return await asyncio.to_thread(work, rows, *args)
        except BaseException:
            # Perhaps not written: hand the pairs back, so the next scrape writes them.
            self.latest.fresh.update(rows)
            raise

    def _update(
        self, rows: Mapping[Pair, Latest | None], entries: Mapping[int, MonitorEntry]
    ) -> None:
        with self._writing:
            self.probes.update(entries, rows)

    def _families(
        self,
        rows: Mapping[Pair, Latest | None],
        entries: Mapping[int, MonitorEntry],
        items: Mapping[int, ServiceMonth],
    ) -> list[bytes]:
        with self._writing:
            self.probes.update(entries, rows)
            return self.probes.render() + self.sla.render(items)
