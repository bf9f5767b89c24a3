"""The latest figures of every service's current month, kept in memory.

Status pages and ``/metrics`` show month-to-date figures for every service and must
not compute them on each request. The cache recomputes a service when the folder
reports that its history of state changes changed (``invalidate``, fed through the
folder's ``on_folded``: an outage began or ended, data went silent, a late result moved
one), and everything every ``max_age`` seconds: time passes for open months (the rest
of the month counts as up, an outage's downtime grows), fresh results that change no
state are followed then (recomputing a service per check cost as much as the check),
and catalog edits (a policy, a fee, a time zone, a deleted service) do not go through
the dirty log. A month that rolls
over in a customer's time zone is picked up by the next full refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.availability import unreachable
from app.loop import in_turns
from app.reporting.compute import ServiceMonth
from app.reporting.load import ServiceInfo, load_services
from app.reporting.statements import month_figures_for
from app.sla.periods import Month, from_epoch, month_of

log = logging.getLogger(__name__)

KEEP_PER_TURN = 500  # figures compared between two turns of the event loop (~2 ms)


class CurrentMonthFigures:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], float] = time.time,
        max_age: float = 60.0,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.max_age = max_age
        self._figures: dict[int, ServiceMonth] = {}
        self._stale: set[int] = set()
        self._full_at: float | None = None
        self.refreshed_at: float | None = None

    def invalidate(self, service_ids: Iterable[int]) -> None:
        self._stale.update(service_ids)

    def discard(self, service_ids: Iterable[int]) -> None:
        """Deleted services: their figures go now (and, being stale, stay gone even if
        a refresh running meanwhile had computed them)."""
        ids = set(service_ids)
        self._figures = {k: v for k, v in self._figures.items() if k not in ids}
        self._stale.update(ids)

    def get(self, service_id: int) -> ServiceMonth | None:
        return self._figures.get(service_id)

    def items(self) -> Mapping[int, ServiceMonth]:
        """A read-only view of every service's figures (by service id)."""
        return MappingProxyType(self._figures)

    def due(self) -> bool:
        full_due = self._full_at is None or self.clock() - self._full_at >= self.max_age
        return full_due or bool(self._stale)

    async def refresh(self) -> int:
        """Recompute what is stale (or everything, when a full refresh is due).
        Returns the services computed."""
        now = int(self.clock())
        full = self._full_at is None or now - self._full_at >= self.max_age
        stale, self._stale = self._stale, set()
        if not full and not stale:
            return 0
        try:
            fresh = await self._compute(now, None if full else sorted(stale))
        except BaseException:
            self._stale |= stale  # try these again next time
            raise
        await self._keep_held(fresh)
        if full:
            self._figures = fresh
            self._full_at = now
        else:
            for service_id in stale - fresh.keys():  # deleted meanwhile
                self._figures.pop(service_id, None)
            self._figures = {**self._figures, **fresh}
        self.refreshed_at = now
        return len(fresh)

    async def _keep_held(self, fresh: dict[int, ServiceMonth]) -> None:
        """Where a service's figures are what the cache holds already (most services,
        most minutes), keep the held ones: the ones just computed then die young, where
        the garbage collector's passes are short (app.gc_tuning). Replaced whole each
        minute, 30,000 services' figures made the middle-generation passes that held
        the event loop longest."""
        held = self._figures
        async for service_id, item in in_turns(fresh.items(), KEEP_PER_TURN):
            if held.get(service_id) == item:
                fresh[service_id] = held[service_id]

    async def _compute(self, now: int, service_ids: list[int] | None) -> dict[int, ServiceMonth]:
        async with self.sessions() as session:
            services = await load_services(session, service_ids=service_ids)
            by_month: dict[Month, list[ServiceInfo]] = defaultdict(list)
            for service in services:
                by_month[month_of(now, service.timezone)].append(service)
            fresh: dict[int, ServiceMonth] = {}
            for month, group in sorted(by_month.items()):
                for item in await month_figures_for(session, group, month, from_epoch(now)):
                    fresh[item.service.id] = item
        return fresh

    async def run(self, every: float, stop: asyncio.Event) -> None:
        """Refresh whenever something is due, looking every ``every`` seconds."""
        while not stop.is_set():
            try:
                if self.due():
                    await self.refresh()
            except Exception as exc:
                if not unreachable(exc):  # an outage is logged once (app.availability)
                    log.exception("refreshing current-month figures failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
