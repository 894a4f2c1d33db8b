"""The embedded store: exact entries in an in-process LRU, semantic entries in this process's index."""

from __future__ import annotations

from gateway.cache.lru import LruStore
from gateway.cache.semantic import SemanticEntry, SemanticIndex


class MemoryStore:
    """Everything in this process; nothing is shared with other replicas."""

    def __init__(self, lru: LruStore, index: SemanticIndex) -> None:
        self._lru = lru
        self._index = index

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def get(self, key: str) -> bytes | None:
        return self._lru.get(key)

    async def put(self, key: str, value: bytes, ttl_s: int, semantic: SemanticEntry | None) -> None:
        self._lru.put(key, value, ttl_s)
        if semantic is not None:
            self._index.add(semantic)
