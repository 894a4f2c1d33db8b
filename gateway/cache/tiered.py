"""The response cache: an exact tier, then a semantic tier, over a memory or Redis store."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import orjson

from gateway.cache.base import Completion
from gateway.cache.eligibility import cacheable, storable
from gateway.cache.guard import StoreUnavailable
from gateway.cache.key import exact_key, semantic_scope
from gateway.cache.query import CacheControl, CacheLookup, CacheQuery
from gateway.cache.semantic import SemanticEntry, SemanticIndex
from gateway.cache.singleflight import SingleFlight
from gateway.cache.stats import CacheStats

T = TypeVar("T")
BYPASS = CacheLookup(status="bypass", response=None, score=None, key="")


class EntryStore(Protocol):
    """Where serialised responses live; `put` also publishes the semantic entry, if any.

    `get` and `put` raise StoreUnavailable when the store cannot answer now.
    """

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl_s: int, semantic: SemanticEntry | None) -> None: ...


class TieredCache:
    """Exact key first, then the nearest cached request in the same scope above the route's threshold.

    A `refresh` request skips both reads but is stored; `no_store` and uncacheable requests bypass.
    """

    def __init__(
        self,
        store: EntryStore,
        index: SemanticIndex,
        stats: CacheStats,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stats = stats
        self._store = store
        self._index = index
        self._clock = clock
        self._flights = SingleFlight(stats)

    @property
    def semantic_entries(self) -> int:
        """How many request vectors this replica can match against now."""
        return len(self._index)

    async def start(self) -> None:
        await self._store.start()

    async def aclose(self) -> None:
        await self._store.aclose()

    async def lookup(self, q: CacheQuery) -> CacheLookup:
        if not cacheable(q):
            self.stats.bypasses += 1
            return BYPASS
        key = exact_key(q)
        if q.control is not CacheControl.REFRESH:
            with contextlib.suppress(StoreUnavailable):
                found = await self._read(q, key)
                if found is not None:
                    return found
        self.stats.misses += 1
        return CacheLookup(status="miss", response=None, score=None, key=key)

    async def store(self, q: CacheQuery, lookup: CacheLookup, response: Completion) -> None:
        if lookup.status != "miss" or not lookup.key:
            return
        if not storable(response):
            self.stats.rejected += 1
            return
        try:
            await self._store.put(lookup.key, orjson.dumps(response), q.settings.ttl_s, self._entry(q, lookup.key))
        except StoreUnavailable:
            return
        self.stats.stores += 1

    async def coalesce(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        if not key:
            return await fn()
        return await self._flights.do(key, fn)

    async def fill(self, q: CacheQuery, lookup: CacheLookup, fn: Callable[[], Awaitable[Completion]]) -> Completion:
        async def call_and_store() -> Completion:
            response = await fn()
            await self.store(q, lookup, response)
            return response

        return await self.coalesce(lookup.key, call_and_store)

    async def _read(self, q: CacheQuery, key: str) -> CacheLookup | None:
        response = _decode(await self._store.get(key))
        if response is not None:
            self.stats.hits += 1
            return CacheLookup(status="hit", response=response, score=None, key=key)
        found = await self._semantic(q)
        if found is None:
            return None
        self.stats.semantic_hits += 1
        return CacheLookup(status="semantic-hit", response=found[0], score=found[1], key=key)

    async def _semantic(self, q: CacheQuery) -> tuple[Completion, float] | None:
        threshold = q.settings.threshold_for(q.task)
        if threshold is None or q.vector is None:
            return None
        nearest = self._index.nearest(semantic_scope(q), q.vector)
        if nearest is None or nearest[1] < threshold:
            return None
        key, score = nearest
        response = _decode(await self._store.get(key))
        if response is None:
            # Expired or evicted from the store (or Redis restarted empty): forget the vector too.
            self._index.discard(key)
            return None
        return response, min(score, 1.0)

    def _entry(self, q: CacheQuery, key: str) -> SemanticEntry | None:
        if q.vector is None or q.settings.threshold_for(q.task) is None:
            return None
        return SemanticEntry(
            scope=semantic_scope(q),
            key=key,
            vector=q.vector,
            expires_at=self._clock() + q.settings.ttl_s,
        )


def _decode(value: bytes | None) -> Completion | None:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
