"""Values kept in process: least recently used goes first, each entry has its own expiry.

The cache's exact tier and the idempotency keys of one replica both keep their entries here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TLRUCache


class LruStore:
    """Bytes by key, at most `max_entries`, each dropped after its TTL."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        # an entry holds (ttl_s, value): the ttl sets its expiry when it is put
        self._entries = TLRUCache(max_entries, ttu=_expiry, timer=clock)

    def get(self, key: str) -> bytes | None:
        entry: tuple[float, bytes] | None = self._entries.get(key)
        return entry[1] if entry is not None else None

    def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._entries[key] = (ttl_s, value)

    def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        self._entries.expire()
        return len(self._entries)


def _expiry(_key: str, entry: tuple[float, bytes], now: float) -> float:
    return now + entry[0]
