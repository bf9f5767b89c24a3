"""The latest result of every (monitor, location), in memory: what ``/metrics`` shows
per probe and what the notifier watches for degraded monitors.

Every ingestion path feeds it after it has stored a batch (``POST /api/v1/results``
from remote agents, the in-process scheduler's buffer, heartbeat pings), so a scrape
reads memory only. At start it is seeded from the database (the newest stored result
of each pair, a few queries for all of them), so a restart does not blank the
gauges; phase timings and certificate expiry are not stored, and come back with each
pair's next check. A deleted monitor is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CheckResult
from app.monitoring.checks import ResultIn

Pair = tuple[int, str]


# A pair's latest result is the ingested row itself (no copy per row: ingestion pays
# for this table, so it must cost next to nothing). Seeded rows are made the same way.
Latest = ResultIn


def newer(held: Latest, row: Latest) -> bool:
    """Whether ``row`` replaces ``held``: a later check, or at the same second a
    failure (as storage keeps a failure over a success) or a copy with more in it (a
    seeded row meeting the same check with its timings)."""
    if row.checked_at != held.checked_at:
        return row.checked_at > held.checked_at
    return held.ok or not row.ok


class LatestResults:
    """Latest results by (monitor, location); ``changed`` collects the monitors that
    got a new one since the notifier last took them, ``fresh`` the pairs that got a
    new one (or were forgotten) since ``/metrics`` last took them."""

    def __init__(self) -> None:
        self._rows: dict[Pair, Latest] = {}
        self._locations: dict[int, set[str]] = {}
        self.changed: set[int] = set()
        self.fresh: set[Pair] = set()
        self.seeded = False

    def __len__(self) -> int:
        return len(self._rows)

    def observe(self, rows: Iterable[ResultIn]) -> None:
        """Results just stored (any ingestion path): each kept if newer than what is
        held for its pair. About a microsecond a row."""
        table, changed, fresh = self._rows, self.changed, self.fresh
        for row in rows:
            pair = (row.monitor_id, row.location)
            held = table.get(pair)
            if held is None:
                self._locations.setdefault(row.monitor_id, set()).add(row.location)
            elif not newer(held, row):
                continue
            table[pair] = row
            changed.add(row.monitor_id)
            fresh.add(pair)

    def get(self, pair: Pair) -> Latest | None:
        return self._rows.get(pair)

    def of_monitor(self, monitor_id: int) -> dict[str, Latest]:
        return {
            location: self._rows[(monitor_id, location)]
            for location in self._locations.get(monitor_id, ())
        }

    def forget(self, monitor_id: int) -> None:
        """A deleted monitor: its gauges disappear."""
        for location in self._locations.pop(monitor_id, ()):
            self._rows.pop((monitor_id, location), None)
            self.fresh.add((monitor_id, location))
        self.changed.discard(monitor_id)

    def retain(self, monitor_ids: set[int]) -> None:
        """Forget every monitor not in ``monitor_ids`` (deleted by another process)."""
        for monitor_id in [m for m in self._locations if m not in monitor_ids]:
            self.forget(monitor_id)

    def take_changed(self) -> set[int]:
        changed, self.changed = self.changed, set()
        return changed

    def take_fresh(self) -> set[Pair]:
        fresh, self.fresh = self.fresh, set()
        return fresh

    def locations_of(self, monitor_id: int) -> set[str]:
        return set(self._locations.get(monitor_id, ()))

    def snapshot(self) -> dict[Pair, Latest]:
        """A copy, for work done off the event loop (the dict keeps changing)."""
        return dict(self._rows)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self._rows)


SEED_CHUNK = 200  # pairs per query (SQLite allows 500 terms in a compound SELECT)


async def load_latest(session: AsyncSession, pairs: Sequence[Pair]) -> dict[Pair, Latest]:
    """The newest stored result of each pair. Each pair is one index seek on the
    results' primary key (monitor, location, checked_at), newest first; pairs are asked
    ``SEED_CHUNK`` at a time in one ``UNION ALL``, never by scanning the results."""
    found: dict[Pair, Latest] = {}
    columns = (
        CheckResult.monitor_id,
        CheckResult.location,
        CheckResult.checked_at,
        CheckResult.ok,
        CheckResult.latency_ms,
        CheckResult.status_code,
        CheckResult.warning,
        CheckResult.interval_seconds,
    )
    for start in range(0, len(pairs), SEED_CHUNK):
        newest = [
            select(*columns)
            .where(CheckResult.monitor_id == monitor_id, CheckResult.location == location)
            .order_by(CheckResult.checked_at.desc())
            .limit(1)
            .subquery()
            for monitor_id, location in pairs[start : start + SEED_CHUNK]
        ]
        # Each term is wrapped: SQLite refuses ORDER BY / LIMIT inside a compound term.
        query = union_all(*(select(term) for term in newest))
        for row in await session.execute(query):
            found[(row[0], row[1])] = Latest(
                monitor_id=row[0],
                location=row[1],
                checked_at=row[2],
                ok=row[3],
                latency_ms=row[4],
                status_code=row[5],
                warning=row[6],
                interval_seconds=row[7],
            )
    return found


async def seed(session: AsyncSession, latest: LatestResults, pairs: Sequence[Pair]) -> int:
    """Fill ``latest`` from the database for ``pairs``; what ingestion put there
    meanwhile is newer and stays. Returns the pairs found."""
    found = await load_latest(session, pairs)
    latest.observe(found.values())
    latest.seeded = True
    return len(found)
