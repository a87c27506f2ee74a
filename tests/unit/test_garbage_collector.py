"""`freeze_long_lived`, which a job worker runs once its index is built: what is held then leaves the collector's
scans, and nothing that is garbage is frozen with it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from clearinghouse.config import freeze_long_lived


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _scanned(objects: list[list[int]]) -> int:
    """How many of `objects` the collector's generations hold (frozen ones are in none)."""
    tracked = {id(item) for item in gc.get_objects()}
    return sum(id(item) in tracked for item in objects)


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # this test process goes on collecting as before


def test_frozen_objects_are_left_out_of_full_collections_and_garbage_cycles_are_not_frozen(unfrozen: None) -> None:
    kept = [[n] for n in range(1_000)]  # what a worker keeps: its index (lists: always tracked)
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a reference cycle, garbage once the names are gone
    cycle = weakref.ref(a)
    del a, b
    enabled = gc.isenabled()
    gc.disable()  # no automatic collection may clear the cycle first: the freeze must
    try:
        assert _scanned(kept) == len(kept)
        freeze_long_lived()
        assert cycle() is None  # collected before the freeze, not frozen for the process's life
        assert _scanned(kept) == 0  # no collection looks at them again
    finally:
        if enabled:
            gc.enable()
