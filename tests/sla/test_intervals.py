"""Interval algebra, by example and by property."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.sla.intervals import clip, intersect, subtract, total, union

intervals = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 200)).map(lambda p: (min(p), max(p))),
    max_size=12,
)


def test_union_merges_overlapping_and_touching() -> None:
    assert union([(5, 8), (1, 3), (3, 4), (7, 10), (12, 12)]) == [(1, 4), (5, 10)]


def test_subtract_cuts_holes() -> None:
    assert subtract([(0, 10)], [(2, 3), (5, 7), (9, 12)]) == [(0, 2), (3, 5), (7, 9)]


def test_intersect_and_clip() -> None:
    assert intersect([(0, 5), (8, 12)], [(3, 10)]) == [(3, 5), (8, 10)]
    assert clip([(0, 5), (8, 12)], 4, 9) == [(4, 5), (8, 9)]


def _points(a: list[tuple[int, int]]) -> set[int]:
    return {x for s, e in a for x in range(s, e)}


@given(intervals, intervals)
def test_operations_agree_with_sets_of_points(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    assert _points(union(a, b)) == _points(a) | _points(b)
    assert _points(intersect(a, b)) == _points(a) & _points(b)
    assert _points(subtract(a, b)) == _points(a) - _points(b)
    assert total(a) == len(_points(a))


@given(intervals)
def test_union_is_canonical(a: list[tuple[int, int]]) -> None:
    merged = union(a)
    assert all(s < e for s, e in merged)
    assert all(merged[i][1] < merged[i + 1][0] for i in range(len(merged) - 1))
    assert union(merged) == merged
