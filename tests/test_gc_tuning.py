"""The long-running processes collect garbage less often (app.gc_tuning)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app import gc_tuning


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_tuning_raises_the_thresholds_and_freezes_what_is_alive(restored: None) -> None:
    gc.set_threshold(700, 10, 10)  # CPython's defaults (a command run in-process tunes)
    gc_tuning.tune()
    assert gc.get_threshold() == gc_tuning.THRESHOLDS == (10_000, 20, 100)
    before = gc.get_freeze_count()
    kept = [[i] for i in range(1000)]  # tracked objects alive at "start-up"
    gc_tuning.freeze_startup()
    assert gc.get_freeze_count() >= before + len(kept)
