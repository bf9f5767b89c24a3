"""From check results to states (SLA_RULES.md section 2)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from app.sla.intervals import total, union
from app.sla.timeline import (
    Observation,
    Segment,
    States,
    dedupe,
    fold_location,
    monitor_states,
    restart_point,
    service_states,
    splice,
)


def obs(at: int, ok: bool, interval: int = 60) -> Observation:
    return Observation(at, ok, interval)


def run(pattern: str, start: int = 0, every: int = 60) -> list[Observation]:
    """'..xx.' -> results every minute; '.' ok, 'x' failed."""
    return [obs(start + i * every, c == ".", every) for i, c in enumerate(pattern)]


def test_a_result_holds_until_the_next_one() -> None:
    assert fold_location(run("..x.")) == [
        Segment(0, 120, False),
        Segment(120, 180, True),
        Segment(180, 300, False),  # the last result holds for 2 x 60 s
    ]


def test_a_result_goes_stale_after_twice_its_interval() -> None:
    # ok at 0 (interval 60), next result at 300: fresh [0, 120), no data [120, 300).
    segments = fold_location([obs(0, True), obs(300, True)])
    assert segments == [Segment(0, 120, False), Segment(300, 420, False)]


def test_stale_after_uses_the_interval_in_force_when_taken() -> None:
    segments = fold_location([obs(0, False, 300), obs(500, True, 60)])
    assert segments == [Segment(0, 500, True), Segment(500, 620, False)]


def test_failure_run_shorter_than_confirmations_is_a_blip() -> None:
    segments = fold_location(run(".xx."), confirmations=3)
    assert all(not s.failing for s in segments)


def test_confirmed_run_fails_from_its_first_result() -> None:
    # Confirmation delays the alert, not the start of the outage.
    segments = fold_location(run("..xxx.."), confirmations=3)
    assert [s for s in segments if s.failing] == [Segment(120, 300, True)]


def test_outage_is_never_back_dated_to_the_last_success() -> None:
    # ok at 0, failure at 60: DOWN starts at 60, not at 0 or 1.
    states = monitor_states([fold_location(run(".x."))], 1, (0, 180))
    assert states.down == [(60, 120)]


def test_conflicting_duplicates_resolve_to_the_failure() -> None:
    assert dedupe([obs(60, True), obs(60, False)]) == dedupe([obs(60, False), obs(60, True)])
    assert dedupe([obs(60, True), obs(60, False)]) == [obs(60, False)]


def test_quorum_two_of_three() -> None:
    # fra fails 120-240, nyc fails 180-300, sgp never: two fail only during 180-240.
    fra = fold_location(run("..xx...."))
    nyc = fold_location(run("...xx..."))
    sgp = fold_location(run("........"))
    states = monitor_states([fra, nyc, sgp], quorum=2, window=(0, 480))
    assert states.down == [(180, 240)]
    assert states.no_data == []
    one_of_three = monitor_states([fra, nyc, sgp], quorum=1, window=(0, 480))
    assert one_of_three.down == [(120, 300)]


def test_too_few_fresh_locations_is_no_data_not_up() -> None:
    fra = fold_location(run("....", start=0))  # fresh 0-360
    nyc = fold_location(run("..", start=0))  # fresh 0-180
    states = monitor_states([fra, nyc], quorum=2, window=(0, 400))
    assert states.down == []
    assert states.no_data == [(180, 400)]


def test_down_beats_no_data() -> None:
    # Two of three failing while the third is stale is DOWN, not NO DATA.
    fra = fold_location(run("xx"))
    nyc = fold_location(run("xx"))
    states = monitor_states([fra, nyc, []], quorum=2, window=(0, 180))
    assert states.down == [(0, 180)]
    assert states.no_data == []


def test_service_is_down_when_any_monitor_is_down() -> None:
    web = States(down=[(100, 200)], no_data=[])
    mail = States(down=[(150, 300)], no_data=[(0, 50)])
    states = service_states([web, mail], (0, 400))
    assert states.down == [(100, 300)]
    assert states.no_data == []  # web was up during mail's gap


def test_service_has_no_data_when_no_monitor_is_up() -> None:
    web = States(down=[], no_data=[(0, 100)])
    mail = States(down=[], no_data=[(50, 150)])
    assert service_states([web, mail], (0, 200)).no_data == [(50, 100)]
    assert service_states([], (0, 200)).no_data == [(0, 200)]


# ------------------------------------------------------------------ properties

results = st.lists(
    st.builds(
        Observation,
        at=st.integers(0, 3_000),
        ok=st.booleans(),
        interval=st.sampled_from([30, 60, 300]),
    ),
    max_size=40,
)


@given(results, st.integers(1, 4), st.randoms(use_true_random=False))
def test_arrival_order_and_duplicates_change_nothing(
    observations: list[Observation], confirmations: int, rnd: random.Random
) -> None:
    shuffled = observations + rnd.sample(observations, k=len(observations) // 2)
    rnd.shuffle(shuffled)
    assert fold_location(shuffled, confirmations) == fold_location(observations, confirmations)


@given(st.lists(results, min_size=1, max_size=3), st.integers(1, 4), st.integers(1, 3))
def test_states_partition_the_window(
    locations: list[list[Observation]], confirmations: int, quorum: int
) -> None:
    window = (0, 4_000)
    states = monitor_states([fold_location(r, confirmations) for r in locations], quorum, window)
    assert total(states.down) + total(states.no_data) <= window[1] - window[0]
    assert total(union(states.down, states.no_data)) == total(states.down) + total(states.no_data)


@settings(max_examples=200)
@given(results, st.integers(1, 4), st.data())
def test_incremental_refold_equals_a_full_fold(
    observations: list[Observation], confirmations: int, data: st.DataObject
) -> None:
    """Results arriving in batches, each re-folded from its restart point, end in the
    same segments as folding everything at once (what the stored timeline relies on)."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(observations)), max_size=4)))
    batches = [
        observations[a:b] for a, b in zip([0, *cuts], [*cuts, len(observations)], strict=False)
    ]
    seen: list[Observation] = []
    stored: list[Segment] = []
    for batch in batches:
        if not batch:
            continue
        seen.extend(batch)
        everything = dedupe(seen)
        restart = restart_point(everything, min(o.at for o in batch))
        tail = [o for o in everything if restart is None or o.at >= restart]
        stored = splice(stored, fold_location(tail, confirmations), restart)
    assert stored == fold_location(observations, confirmations)


@given(results, st.integers(1, 4))
def test_single_location_shortcut_matches_the_sweep(
    observations: list[Observation], confirmations: int
) -> None:
    segments = fold_location(observations, confirmations)
    window = (-100, 3_500)
    # A second, empty location forces the general sweep without changing the answer
    # for quorum 1.
    assert monitor_states([segments], 1, window) == monitor_states([segments, []], 1, window)
