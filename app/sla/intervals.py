"""Interval algebra on half-open ``(start, end)`` integer intervals.

An *interval set* is a list of disjoint, non-touching, non-empty intervals in
ascending order; every function here returns one, and accepts any iterable of
intervals (in any order, overlapping or empty) as input.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

Interval = tuple[int, int]


def union(*groups: Iterable[Interval]) -> list[Interval]:
    """Merge overlapping and touching intervals: ``[1,3) + [3,5) = [1,5)``."""
    merged: list[Interval] = []
    for start, end in sorted(i for group in groups for i in group if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def canonical(a: Iterable[Interval]) -> list[Interval]:
    """``a`` itself when it already is an interval set (the common case inside this
    package, checked in one pass), else its union."""
    if isinstance(a, list):
        previous_end = None
        for start, end in a:
            if start >= end or (previous_end is not None and start <= previous_end):
                return union(a)
            previous_end = end
        return a
    return union(a)


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    left, right = canonical(a), canonical(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The parts of ``a`` outside ``b``."""
    cuts = canonical(b)
    out: list[Interval] = []
    j = 0
    for start, end in canonical(a):
        while j < len(cuts) and cuts[j][1] <= start:
            j += 1
        k = j
        cursor = start
        while k < len(cuts) and cuts[k][0] < end:
            if cuts[k][0] > cursor:
                out.append((cursor, cuts[k][0]))
            cursor = max(cursor, cuts[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def clip(a: Iterable[Interval], start: int, end: int) -> list[Interval]:
    return intersect(a, [(start, end)])


def total(a: Iterable[Interval]) -> int:
    """Total length, counting overlaps once."""
    return sum(end - start for start, end in canonical(a))


def overlapping(a: Sequence[Interval], start: int, end: int) -> list[Interval]:
    """The intervals of the interval set ``a`` that overlap ``[start, end)``, unclipped,
    found by bisection: many short windows over one long set (a status page's days)
    each pay for their own few intervals, not for the whole set."""
    first = bisect_right(a, start, key=lambda interval: interval[1])
    found = []
    for interval in a[first:]:
        if interval[0] >= end:
            break
        found.append(interval)
    return found
