"""API_GC_GEN0_THRESHOLD: the API process's collector settings after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.server import tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    _, gen1, gen2 = gc.get_threshold()
    tune_gc(12_345)
    assert gc.get_threshold() == (12_345, gen1, gen2)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_gc")
def test_zero_keeps_pythons_settings() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    tune_gc(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
