"""Compact encoding of "what needs folding" for the ``dirty_marks`` log.

A batch touches many (monitor, location) pairs, each from its earliest result. Folding
from an earlier instant than needed is always correct (it re-folds a little more), so
instants are rounded down to ``GRANULARITY`` and the monitors sharing a location and a
rounded instant are stored as runs of ids: a batch from one agent usually becomes a
few dozen bytes instead of tens of kilobytes.

Each log row names the monitors of one shard (``shard_of``): a folder claims a shard
(one PostgreSQL advisory lock) and folds its rows' pairs, so several processes fold
different shards at once with a bounded number of locks, whatever the monitor count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

GRANULARITY = 300  # seconds
# More shards than folding processes, so each finds a free one; few enough that a read
# may claim every shard of its monitors in one transaction. Shard 0 is "any monitor"
# (rows logged before shards existed). Changing it leaves old rows on valid shards.
SHARDS = 16

Pair = tuple[int, str]


def encode(earliest: dict[Pair, int]) -> list[list[Any]]:
    """``{(monitor, location): at}`` -> ``[[location, from, [id | [first, last], ...]], ...]``."""
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for (monitor_id, location), at in earliest.items():
        groups[(location, at - at % GRANULARITY)].append(monitor_id)
    return [
        [location, start, _runs(sorted(ids))] for (location, start), ids in sorted(groups.items())
    ]


def shard_of(monitor_id: int) -> int:
    return 1 + monitor_id % SHARDS


def by_shard(earliest: dict[Pair, int]) -> dict[int, dict[Pair, int]]:
    """The pairs split by their monitor's shard."""
    shards: dict[int, dict[Pair, int]] = defaultdict(dict)
    for pair, at in earliest.items():
        shards[shard_of(pair[0])][pair] = at
    return dict(shards)


def decode(marks: Iterable[list[Any]]) -> Iterator[tuple[int, str, int]]:
    for location, start, runs in marks:
        for run in runs:
            first, last = (run, run) if isinstance(run, int) else run
            for monitor_id in range(first, last + 1):
                yield monitor_id, location, start


def _runs(ids: list[int]) -> list[int | list[int]]:
    runs: list[int | list[int]] = []
    first = previous = ids[0]
    for ident in [*ids[1:], None]:
        if ident is not None and ident == previous + 1:
            previous = ident
            continue
        runs.append(first if first == previous else [first, previous])
        if ident is not None:
            first = previous = ident
    return runs
