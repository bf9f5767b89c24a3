"""The compact dirty-marks encoding never marks too late and never loses a pair."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.monitoring.marks import GRANULARITY, decode, encode

pairs = st.dictionaries(
    st.tuples(st.integers(1, 60), st.sampled_from(["local", "fra", "nyc"])),
    st.integers(0, 10_000),
    max_size=80,
)


@given(pairs)
def test_every_pair_comes_back_no_later_and_at_most_one_granule_earlier(
    earliest: dict[tuple[int, str], int],
) -> None:
    decoded = {(m, loc): at for m, loc, at in decode(encode(earliest))}
    assert set(decoded) == set(earliest)
    for pair, at in earliest.items():
        assert at - GRANULARITY < decoded[pair] <= at


def test_contiguous_monitors_become_one_run() -> None:
    # One agent's batch: 1,000 monitors checked within the same 5 minutes.
    earliest = {(i, "local"): 1_000_200 + i % 50 for i in range(1, 1001)}
    assert encode(earliest) == [["local", 1_000_200, [[1, 1000]]]]
    assert encode({(7, "fra"): 600, (9, "fra"): 601}) == [["fra", 600, [7, 9]]]
