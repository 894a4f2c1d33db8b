from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.semantic import SemanticEntry, SemanticIndex
from tests.gateway.cache.conftest import DIM, near, unit
from tests.gateway.cache.test_lru import FakeClock


def entry(key: str, vector: np.ndarray, scope: str = "s", expires_at: float = 2000.0) -> SemanticEntry:
    return SemanticEntry(scope=scope, key=key, vector=vector, expires_at=expires_at)


def test_nearest_returns_the_closest_key_and_its_cosine() -> None:
    index = SemanticIndex(DIM, max_entries=100, clock=FakeClock())
    for seed in range(20):
        index.add(entry(f"k{seed}", unit(seed)))
    key, score = index.nearest("s", near(unit(7), 0.93))
    assert key == "k7"
    assert score == pytest.approx(0.93, abs=1e-5)


def test_scopes_do_not_see_each_other() -> None:
    index = SemanticIndex(DIM, max_entries=100, clock=FakeClock())
    index.add(entry("a", unit(1), scope="one"))
    assert index.nearest("two", unit(1)) is None
    assert index.nearest("one", unit(1))[0] == "a"


def test_expired_entries_are_never_returned_and_are_dropped() -> None:
    clock = FakeClock()
    index = SemanticIndex(DIM, max_entries=100, clock=clock)
    index.add(entry("old", unit(1), expires_at=1010.0))
    index.add(entry("new", unit(2), expires_at=1100.0))
    clock.now = 1050.0
    assert index.nearest("s", unit(1))[0] == "new"
    assert len(index) == 1
    index.add(entry("dead-on-arrival", unit(3), expires_at=1000.0))
    assert len(index) == 1


def test_oldest_entries_are_evicted_beyond_max_entries_and_rows_stay_consistent() -> None:
    index = SemanticIndex(DIM, max_entries=10, clock=FakeClock())
    for seed in range(25):
        index.add(entry(f"k{seed}", unit(seed), scope=f"s{seed % 3}"))
    assert len(index) == 10
    for seed in range(25):
        found = index.nearest(f"s{seed % 3}", unit(seed))
        assert (found is not None and found[0] == f"k{seed}") == (seed >= 15)


def test_re_adding_a_key_replaces_its_vector_and_discard_removes_it() -> None:
    index = SemanticIndex(DIM, max_entries=10, clock=FakeClock())
    index.add(entry("a", unit(1)))
    index.add(entry("b", unit(2)))
    index.add(entry("a", unit(3)))
    assert len(index) == 2
    assert index.nearest("s", unit(3)) == ("a", pytest.approx(1.0, abs=1e-5))
    index.discard("a")
    index.discard("missing")
    assert index.nearest("s", unit(3))[0] == "b"


def test_wrong_dimension_is_refused() -> None:
    index = SemanticIndex(DIM, max_entries=10, clock=FakeClock())
    with pytest.raises(ValueError, match="shape"):
        index.add(entry("a", unit(1, dim=DIM + 1)))
