"""The whole ``/metrics`` text: the registry's families (process counters, histograms),
then the probe and SLA families (app.telemetry.probes, .sla).

The probe series are kept between scrapes and written again only for the pairs whose
result or roster entry changed since (``LatestResults.take_fresh``,
``MonitorRoster.take_touched``). ``refresh`` does that writing ahead of time (``run``
calls it every few seconds), so a scrape mostly joins what is kept. Everything runs on
the event loop in slices (``app.loop.in_slices``), so a scrape of 100,000 monitors
does not hold the loop that runs checks. It once ran in a worker thread instead:
beside a busy loop that thread waited for the interpreter lock, and scrapes that
needed 50 ms of CPU took up to 0.9 s. One writer at a time (an asyncio lock).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, generate_latest

from app.loop import in_slices
from app.monitoring.latest import Latest, LatestResults, Pair
from app.monitoring.roster import MonitorEntry, MonitorRoster
from app.reporting.cache import CurrentMonthFigures
from app.telemetry.probes import ProbeFamilies
from app.telemetry.sla import SlaFamilies

REFRESH_SECONDS = 5.0
PAIRS_PER_TURN = 200  # probe series written between two turns of the loop (~1-2 ms)


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

    async def render(self) -> list[bytes]:
        """The text as chunks, in order (joined, they are the whole exposition)."""
        async with self._lock:
            head = generate_latest(self.registry)
            items = dict(self.figures.items())
            await self._write()
            probes = await self.probes.render()
            sla = await self.sla.render(items)
        return [head, *probes, *sla]

    async def refresh(self) -> None:
        """Write the series that changed since the last scrape or refresh."""
        async with self._lock:
            await self._write()

    async def run(self, stop: asyncio.Event, every: float = REFRESH_SECONDS) -> None:
        while not stop.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def _write(self) -> None:
        entries, rows = self._changes()
        try:
            async for part in in_slices(rows.items(), PAIRS_PER_TURN):
                self.probes.update(entries, part)
        except BaseException:
            # Perhaps not written (a cancelled scrape): hand the pairs back, so the
            # next scrape writes them.
            self.latest.fresh.update(rows)
            raise

    def _changes(self) -> tuple[Mapping[int, MonitorEntry], dict[Pair, Latest | None]]:
        """The pairs to write again and their rows (None: none now)."""
        pairs = self.latest.take_fresh()
        for monitor_id in self.roster.take_touched():
            pairs |= self.probes.pairs_of(monitor_id)
            pairs.update(
                (monitor_id, location) for location in self.latest.locations_of(monitor_id)
            )
        return self.roster.entries(), {pair: self.latest.get(pair) for pair in pairs}
