from __future__ import annotations

from gateway.cache.lru import LruStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_goes_first() -> None:
    store = LruStore(max_entries=2, clock=FakeClock())
    store.put("a", b"1", 60)
    store.put("b", b"2", 60)
    assert store.get("a") == b"1"
    store.put("c", b"3", 60)
    assert store.get("b") is None
    assert store.get("a") == b"1"
    assert store.get("c") == b"3"
    assert len(store) == 2


def test_entries_expire_after_their_ttl() -> None:
    clock = FakeClock()
    store = LruStore(max_entries=10, clock=clock)
    store.put("short", b"1", 5)
    store.put("long", b"2", 50)
    clock.now += 10
    assert store.get("short") is None
    assert store.get("long") == b"2"
    assert len(store) == 1
