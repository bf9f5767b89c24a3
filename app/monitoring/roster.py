"""Who each monitor is, in memory: its name, kind, locations and interval, and the
slugs and names of its service and customer. ``/metrics`` labels the probe gauges
from it and the notifier names monitors with it, without a query per monitor.

It is loaded whole in one query (10,000 monitors: one join, streamed in batches so
other requests run meanwhile), again every ``max_age`` seconds (renames and deletions
made by other processes), and a monitor changed through this process is reloaded at
once (``reload``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Executable, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import batches
from app.models import Customer, Monitor, Service


@dataclass(frozen=True, slots=True)
class MonitorEntry:
    id: int
    name: str
    kind: str
    enabled: bool
    interval_seconds: int
    locations: tuple[str, ...]
    service_id: int
    service: str  # slug
    service_name: str
    customer_id: int
    customer: str  # slug
    customer_name: str


def _query(*where: ColumnElement[bool]) -> Executable:
    return (
        select(
            Monitor.id,
            Monitor.name,
            Monitor.kind,
            Monitor.enabled,
            Monitor.interval_seconds,
            Monitor.locations,
            Service.id,
            Service.slug,
            Service.name,
            Customer.id,
            Customer.slug,
            Customer.name,
        )
        .join(Service, Service.id == Monitor.service_id)
        .join(Customer, Customer.id == Service.customer_id)
        .where(*where)
    )


async def _load(session: AsyncSession, *where: ColumnElement[bool]) -> dict[int, MonitorEntry]:
    return {row[0]: _entry(row) for row in await session.execute(_query(*where))}


def _entry(row: Any) -> MonitorEntry:
    return MonitorEntry(
        id=row[0],
        name=row[1],
        kind=row[2],
        enabled=row[3],
        interval_seconds=row[4],
        locations=tuple(row[5]),
        service_id=row[6],
        service=row[7],
        service_name=row[8],
        customer_id=row[9],
        customer=row[10],
        customer_name=row[11],
    )


class MonitorRoster:
    """The entries by monitor id; ``touched`` collects the monitors whose entry
    changed, appeared or went since ``/metrics`` last took them (its series of those
    monitors are written again; the others' are kept)."""

    def __init__(self) -> None:
        self._entries: dict[int, MonitorEntry] = {}
        self.loaded_at: float | None = None
        self.touched: set[int] = set()
        # One entry per service, built from the entries object it names when first
        # asked after a replace (never changed in place, so identity says it is current).
        self._by_service: tuple[dict[int, MonitorEntry], dict[int, MonitorEntry]] | None = None
        # While ``load`` streams: what ``reload`` found meanwhile (None: gone).
        self._reloaded: dict[int, MonitorEntry | None] | None = None

    def get(self, monitor_id: int) -> MonitorEntry | None:
        return self._entries.get(monitor_id)

    def of_service(self, service_id: int) -> MonitorEntry | None:
        """One monitor of the service (any: each names the service and its customer),
        found in a dict: a scan of the roster per service change cost seconds a pass
        at 100,000 monitors."""
        entries = self._entries
        if self._by_service is None or self._by_service[0] is not entries:
            index: dict[int, MonitorEntry] = {}
            for entry in entries.values():
                index.setdefault(entry.service_id, entry)
            self._by_service = (entries, index)
        return self._by_service[1].get(service_id)

    def entries(self) -> Mapping[int, MonitorEntry]:
        """A read-only view by monitor id (replaced whole on each full load)."""
        return MappingProxyType(self._entries)

    async def load(self, session: AsyncSession, now: float) -> None:
        """Every monitor, in one query streamed a batch at a time, each batch compared
        with the entries held as it comes: read and compared in one go, 15,000 monitors
        held the event loop for 140-200 ms every ``max_age``."""
        old, entries, touched = self._entries, dict[int, MonitorEntry](), set[int]()
        # Requests run between batches: what ``reload`` reads meanwhile is newer than
        # the rows streamed before it, and wins.
        self._reloaded = {}
        try:
            async for batch in batches(session, _query(), big=True):
                for row in batch:
                    entry, held = _entry(row), old.get(row[0])
                    if entry == held:
                        # Keep the entry held: the one just read dies young, where the
                        # garbage collector's passes are short (app.gc_tuning).
                        entries[entry.id] = held
                    else:
                        entries[entry.id] = entry
                        touched.add(entry.id)
            for monitor_id, reloaded in self._reloaded.items():
                if reloaded is None:
                    entries.pop(monitor_id, None)
                else:
                    entries[monitor_id] = reloaded
        finally:
            self._reloaded = None
        self.touched |= touched
        self._take(entries, now)

    def replace(self, entries: dict[int, MonitorEntry], now: float) -> None:
        """Take ``entries`` as the whole roster, noting what changed in ``touched``."""
        old = self._entries
        self.touched.update(k for k, v in entries.items() if old.get(k) != v)
        self._take(entries, now)

    def _take(self, entries: dict[int, MonitorEntry], now: float) -> None:
        self.touched.update(self._entries.keys() - entries.keys())  # gone
        self._entries = entries  # replaced, never changed in place: readers hold views
        self.loaded_at = now

    async def reload(self, session: AsyncSession, monitor_ids: Collection[int]) -> set[int]:
        """These monitors again (changed through this process); returns the ones that
        no longer exist."""
        found = await _load(session, Monitor.id.in_(list(monitor_ids)))
        gone = set(monitor_ids) - set(found)
        if self._reloaded is not None:  # a full load is streaming: tell it
            self._reloaded.update({**dict.fromkeys(gone), **found})
        entries = {k: v for k, v in self._entries.items() if k not in gone}
        entries.update(found)
        self._entries = entries  # replaced, never changed in place: readers hold views
        self.touched.update(monitor_ids)
        return gone

    def take_touched(self) -> set[int]:
        touched, self.touched = self.touched, set()
        return touched
