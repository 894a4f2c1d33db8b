"""Exact entries kept in process: least recently used goes first, each entry has its own expiry."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class LruStore:
    """Serialised responses by key, at most `max_entries`, each dropped after its TTL."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._entries[key] = (self._clock() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
