"""Rendered status documents and badges, kept for a short while.

A status page is 90 days of every service's figures: computed once, then served from
here until it is ``max_age`` seconds old or the folder reports that one of its
services' stored state changed (``invalidate``, fed like the current-month cache). A
catalog edit made through this process clears everything (``clear``); one made
through another process shows within ``max_age``. Bounded: the least recently used
entries go first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.reporting.compute import FiguresMemo

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Entry:
    value: Any
    services: frozenset[int]
    stored_at: float


class StatusCache:
    def __init__(self, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.clock = clock
        # Days' figures by their inputs, kept across recomputations (exact: see there).
        self.memo = FiguresMemo()
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry.stored_at >= self.max_age:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.value

    def put(self, key: Hashable, value: Any, services: Iterable[int] = ()) -> None:
        self._entries[key] = Entry(value, frozenset(services), self.clock())
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    def invalidate(self, service_ids: Iterable[int]) -> None:
        changed = set(service_ids)
        if changed:
            for key in [k for k, e in self._entries.items() if e.services & changed]:
                del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


CATALOG_WRITES = ("POST", "PUT", "PATCH", "DELETE")
NOT_CATALOG = ("/api/v1/results", "/api/v1/agent", "/api/v1/months")


class ClearOnCatalogWrites:
    """ASGI middleware: a successful catalog write through this process (a customer
    made private, a service renamed, a window announced) clears the status cache, so
    pages follow it at once; results and closes do not."""

    def __init__(self, app: ASGIApp, cache: StatusCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] not in CATALOG_WRITES
            or not path.startswith("/api/v1/")
            or path.startswith(NOT_CATALOG)
        ):
            await self.app(scope, receive, send)
            return

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                self.cache.clear()
            await send(message)

        await self.app(scope, receive, watched)
