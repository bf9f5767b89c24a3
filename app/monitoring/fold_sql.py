"""Re-folding many (monitor, location) pairs at once, with set-based queries.

Per pair, a fold needs its restart point, its floor and failure confirmations, its
results since then and its stored segments from there on. Asked pair by pair that is
eight round trips each; here it is three queries for a whole chunk of pairs, the pairs
passed as arrays (PostgreSQL: ``unnest``) or a JSON parameter (SQLite: ``json_each``)
and joined along the primary-key indexes, so each pair still costs only the rows it
needs. Segments are replaced by one DELETE and one INSERT (no ORM objects), and only
those that changed: a stream of results in order extends one segment per pair.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import LocationSegment
from app.sla.timeline import Observation, Segment, first_difference, fold_location, splice

Pair = tuple[int, str]
FROM_THE_START = -(2**62)  # a start before every instant: the whole history
IDS_PER_DELETE = 1000


def _pairs(dialect: str, rows: Sequence[tuple[int, str, int]]) -> tuple[str, dict[str, Any]]:
    """A ``WITH p(m, l, v)`` clause over (monitor, location, value) rows, and its
    parameters: three arrays on PostgreSQL, one JSON text on SQLite."""
    if dialect == "postgresql":
        return (
            "WITH p(m, l, v) AS (SELECT * FROM unnest(CAST(:m AS bigint[]), "
            "CAST(:l AS text[]), CAST(:v AS bigint[])))",
            {"m": [r[0] for r in rows], "l": [r[1] for r in rows], "v": [r[2] for r in rows]},
        )
    return (
        "WITH p(m, l, v) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
        "json_extract(value, '$[2]') FROM json_each(:rows))",
        {"rows": json.dumps(rows)},
    )


# v: the earliest new result. The restart point is the last success before it.
STARTS = """
SELECT p.m, p.l, mo.failure_confirmations,
  (SELECT c.checked_at FROM check_results c
    WHERE c.monitor_id = p.m AND c.location = p.l AND c.ok AND c.checked_at < p.v
    ORDER BY c.checked_at DESC LIMIT 1),
  f."before"
FROM p JOIN monitors mo ON mo.id = p.m
LEFT JOIN result_floors f ON f.monitor_id = p.m AND f.location = p.l
"""

# v: where the re-fold starts.
RESULTS = """
SELECT c.monitor_id, c.location, c.checked_at, c.ok, c.interval_seconds
FROM p JOIN check_results c
  ON c.monitor_id = p.m AND c.location = p.l AND c.checked_at >= p.v
"""

# Segments reaching ``v``: those starting at or after it, and the one before it (the
# only earlier one that may reach it: segments never overlap). Bounded below by that
# one's start, so the index serves the range and older history is never read.
SEGMENTS = """
SELECT s.id, s.monitor_id, s.location, s.start, s."end", s.failing
FROM p JOIN location_segments s
  ON s.monitor_id = p.m AND s.location = p.l AND s."end" >= p.v
  AND s.start >= COALESCE(
    (SELECT x.start FROM location_segments x
      WHERE x.monitor_id = p.m AND x.location = p.l AND x.start < p.v
      ORDER BY x.start DESC LIMIT 1),
    p.v)
"""


async def refold(session: AsyncSession, pairs: Mapping[Pair, int]) -> dict[int, int]:
    """Re-fold each (monitor, location) from its dirty instant on, in the caller's
    transaction (the pairs' shards claimed). Returns, per monitor whose segments
    changed, the earliest instant that changed. Pairs of deleted monitors are skipped."""
    if not pairs:
        return {}
    dialect = session.get_bind().dialect.name
    clause, params = _pairs(dialect, [(m, loc, at) for (m, loc), at in sorted(pairs.items())])
    starts: dict[Pair, int | None] = {}
    confirmations: dict[int, int] = {}
    for monitor_id, location, confirm, restart, floor in await session.execute(
        text(clause + STARTS), params
    ):
        if floor is not None and (restart is None or restart < floor):
            # Results before the floor were pruned (app.monitoring.retention): the
            # timeline there is final, and the floor is a kept success to fold from.
            restart = floor
        starts[(monitor_id, location)] = restart
        confirmations[monitor_id] = confirm
    if not starts:
        return {}
    clause, params = _pairs(
        dialect,
        [(m, loc, FROM_THE_START if s is None else s) for (m, loc), s in sorted(starts.items())],
    )
    results: dict[Pair, list[Observation]] = defaultdict(list)
    for monitor_id, location, at, ok, interval in await session.execute(
        text(clause + RESULTS), params
    ):
        results[(monitor_id, location)].append(Observation(at, bool(ok), interval))
    stored: dict[Pair, list[tuple[int, Segment]]] = defaultdict(list)
    for ident, monitor_id, location, start, end, failing in await session.execute(
        text(clause + SEGMENTS), params
    ):
        stored[(monitor_id, location)].append((ident, Segment(start, end, bool(failing))))

    changed: dict[int, int] = {}
    gone: list[int] = []
    new: list[dict[str, Any]] = []
    for pair, restart in starts.items():
        monitor_id, location = pair
        rows = sorted(stored.get(pair, []), key=lambda row: row[1].start)
        before = [segment for _, segment in rows]
        spliced = splice(
            before, fold_location(results.get(pair, []), confirmations[monitor_id]), restart
        )
        since = first_difference(before, spliced)
        if since is None:
            continue  # nothing changed (e.g. folded before by a report)
        changed[monitor_id] = min(since, changed.get(monitor_id, since))
        # Segments never overlap, so one that is in both lists is the same row.
        keep = set(spliced)
        gone.extend(ident for ident, segment in rows if segment not in keep)
        had = set(before)
        new.extend(
            {
                "monitor_id": monitor_id,
                "location": location,
                "start": s.start,
                "end": s.end,
                "failing": s.failing,
            }
            for s in spliced
            if s not in had
        )
    table = cast(Table, LocationSegment.__table__)
    for i in range(0, len(gone), IDS_PER_DELETE):
        await session.execute(delete(table).where(table.c.id.in_(gone[i : i + IDS_PER_DELETE])))
    if new:
        await session.execute(insert(table), new)
    return changed
