"""What each location's agents must probe (``GET /api/v1/agent/monitors``), cheap at
any number of monitors.

At 50,000 monitors the list is about 12 MB of JSON and took seconds to build, and it
was built on every poll, even for a 304, because its ETag was a hash of the list. Here:

- ``catalog_version``: one aggregate query over ``monitors`` (count, highest id, and
  the sum of every row's ``updated_at`` in microseconds) names the catalog's state
  without reading the list. Ids are never reused, so a created monitor raises the
  highest id and a deleted one lowers the count; every write path (API, ``uptally
  apply``) stamps ``updated_at`` with ``edit_stamp`` (to the microsecond: two edits
  within one second must differ), so an edit (a disable included) changes the sum. A
  sum, not a maximum: an edit stamped earlier than the latest one (another process's
  clock, a long ``apply`` committing late) still changes it.
- ``AssignmentCache``: the built list per (location, URL base), for its version only
  (a new version replaces it), each item already encoded as JSON, with shard views
  (``id % N == K``) made from it on demand. Concurrent requests for a list not built
  yet share one build, so a poll by N agents after a change costs one build per process.
- Each item's JSON is made by the database (``_listing``) and kept as bytes; a page
  is those bytes joined into the ``Page`` envelope: no model validation or encoding
  per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pydantic_core
from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    Text,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Monitor

# The fields of ``MonitorRead``, in its order (a test holds the two together).
FIELDS = (
    "id",
    "service_id",
    "name",
    "kind",
    "target",
    "interval_seconds",
    "timeout_seconds",
    "locations",
    "quorum",
    "failure_confirmations",
    "enabled",
    "options",
)


def edit_stamp() -> datetime:
    """A monitor's ``updated_at`` for a write: now, to the microsecond (not the whole
    second the API stores elsewhere), so that two edits of one monitor within a second
    still change ``catalog_version``."""
    return datetime.now(UTC)


async def catalog_version(session: AsyncSession) -> str:
    """The catalog's version: it changes whenever a monitor is created, edited,
    disabled or deleted. One aggregate query; the list is not read."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        micros: Any = cast(func.extract("epoch", Monitor.updated_at) * 1_000_000, BigInteger)
    else:
        # SQLite keeps instants as 'YYYY-MM-DD HH:MM:SS.ffffff' text (app.db.UTCDateTime):
        # whole seconds from strftime, microseconds from the text, exact integers.
        micros = cast(func.strftime("%s", Monitor.updated_at), Integer) * 1_000_000 + cast(
            func.substr(cast(Monitor.updated_at, String), 21, 6), Integer
        )
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.max(Monitor.id), 0), func.sum(micros))
        )
    ).one()
    return f"{row[0]}.{row[1]}.{row[2] or 0}"


def etag_for(version: str, location: str, shard: tuple[int, int], base: str) -> str:
    """The ETag of one view of the list: the same on every page and in every server
    process for the same catalog version (agents may poll any of them)."""
    key = f"{version}|{location}|{shard[0]}/{shard[1]}|{base}"
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


MAX_VIEWS = 64  # shard views kept per list (agents of one location use a few)


@dataclass(eq=False)
class Assignment:
    """One location's list, built once: ids and encoded items in id order."""

    ids: list[int]
    items: list[bytes]
    _shards: dict[tuple[int, int], list[bytes]] = field(default_factory=dict)

    def view(self, shard: tuple[int, int]) -> list[bytes]:
        """The items of monitors with ``id % N == K`` (the whole list for 0/1)."""
        index, count = shard
        if count == 1:
            return self.items
        view = self._shards.get(shard)
        if view is None:
            view = [
                item
                for ident, item in zip(self.ids, self.items, strict=True)
                if ident % count == index
            ]
            if len(self._shards) >= MAX_VIEWS:  # any key may ask for any K/N: bounded
                self._shards.clear()
            self._shards[shard] = view
        return view


def page_body(items: Sequence[bytes], total: int, limit: int, offset: int) -> bytes:
    """The ``Page`` envelope ``{items, total, limit, offset}`` around encoded items."""
    tail = pydantic_core.to_json({"total": total, "limit": limit, "offset": offset})
    return b'{"items":[' + b",".join(items) + b"]," + tail[1:]


def _listing(location: str, prefix: str, dialect: str) -> Select[Any]:
    """Each enabled monitor that lists ``location``: its id and its ``MonitorRead``
    JSON, made by the database (PostgreSQL's ``row_to_json``, SQLite's
    ``json_object``), so no row is decoded and encoded again in Python (that was most
    of a build's cost). A heartbeat monitor's ping URL is ``prefix`` and its token
    (NULL, so null, for the others)."""
    url = cast(literal(prefix, String), Text) + Monitor.heartbeat_token
    # The JSON text of `locations` holds '"NAME"' exactly for each of its names (names
    # cannot contain quotes: LOCATION_RE), so this is the exact test.
    where = (
        Monitor.enabled.is_(True),
        cast(Monitor.locations, String).like(f'%"{location}"%'),
    )
    if dialect == "postgresql":
        row = select(*(getattr(Monitor, name) for name in FIELDS), url.label("heartbeat_url"))
        sub = row.where(*where).subquery("m")
        item = cast(func.row_to_json(literal_column("m")), Text)  # compact: no spaces
        return select(sub.c.id, item).order_by(sub.c.id)
    pairs: list[Any] = []
    for name in FIELDS:
        value: Any = getattr(Monitor, name)
        if name in ("locations", "options"):
            value = func.json(value)  # stored as JSON text: embedded, not quoted
        elif name == "enabled":
            value = func.json(case((Monitor.enabled, "true"), else_="false"))  # not 0/1
        pairs += [literal_column(f"'{name}'"), value]
    pairs += [literal_column("'heartbeat_url'"), url]
    return select(Monitor.id, func.json_object(*pairs)).where(*where).order_by(Monitor.id)


async def build_assignment(session: AsyncSession, location: str, base: str) -> Assignment:
    """The enabled monitors that list ``location``, in id order, as the API shows them
    (``MonitorRead``; a heartbeat monitor with its ping URL under ``base``)."""
    dialect = session.get_bind().dialect.name
    prefix = base.rstrip("/") + "/heartbeat/"
    ids: list[int] = []
    items: list[bytes] = []
    for ident, text in await session.execute(_listing(location, prefix, dialect)):
        ids.append(ident)
        items.append(text.encode())
    return Assignment(ids, items)


Builder = Callable[[], Awaitable[Assignment]]


class AssignmentCache:
    """Built lists by (location, URL base), each for the catalog version it was built
    at; at most ``size`` of them (the least recently used goes first).

    The version itself is read at most once per ``version_ttl`` seconds (one aggregate
    over every monitor: about 0.1 s of PostgreSQL at 100,000), so the pages of one
    full poll and many agents' 304s share one query. A monitor changed through this
    process is seen at once (``changed``); one changed by another process (another
    server, ``uptally apply``) within ``version_ttl``. A list built after the version
    was read may be newer than its version, never older: an agent then reads it again
    at the next version, no harm done.
    """

    def __init__(
        self, size: int = 16, version_ttl: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.version_ttl = version_ttl
        self.clock = clock
        self.builds = 0  # how many lists were built (tests and the bench read it)
        self.version_reads = 0  # how many times the version was queried (likewise)
        self._lists: OrderedDict[tuple[str, str], tuple[str, Assignment]] = OrderedDict()
        self._building: dict[tuple[str, str, str], asyncio.Future[Assignment]] = {}
        self._version: tuple[str, float] | None = None  # (version, read at)
        self._generation = 0  # bumped by changed(): a read begun before is not kept

    def changed(self) -> None:
        """A monitor was created, edited or deleted through this process."""
        self._version = None
        self._generation += 1

    async def version(self, session: AsyncSession) -> str:
        """The catalog version, read again when older than ``version_ttl``."""
        now = self.clock()
        if self._version is not None and now - self._version[1] < self.version_ttl:
            return self._version[0]
        generation = self._generation
        version = await catalog_version(session)
        self.version_reads += 1
        if generation == self._generation:
            self._version = (version, now)
        return version

    async def get(self, location: str, base: str, version: str, build: Builder) -> Assignment:
        """The list for ``version``: cached, being built by another request (then
        awaited), or built now by ``build``."""
        key = (location, base)
        cached = self._lists.get(key)
        if cached is not None and cached[0] == version:
            self._lists.move_to_end(key)
            return cached[1]
        pending = self._building.get((location, base, version))
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Assignment] = asyncio.get_running_loop().create_future()
        self._building[(location, base, version)] = future
        try:
            built = await build()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(built)
            self.builds += 1
            self._lists[key] = (version, built)
            self._lists.move_to_end(key)
            while len(self._lists) > self.size:
                self._lists.popitem(last=False)
            return built
        finally:
            del self._building[(location, base, version)]
