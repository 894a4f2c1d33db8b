"""The interface every response cache offers, and NoCache, the one that caches nothing.

With NoCache in place of a cache the request path keeps the same calls and no `if cache:` branch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from gateway.cache.query import BYPASS, CacheLookup, CacheQuery
from gateway.cache.stats import CacheStats
from gateway.cache.stored import StoredAnswer

T = TypeVar("T")
Completion = dict[str, Any]


class ResponseCache(Protocol):
    stats: CacheStats

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def exact(self, q: CacheQuery) -> CacheLookup | None:
        """The exact tier alone (it needs no vector): a hit, else None."""
        ...

    async def lookup(self, q: CacheQuery, exact_checked: bool = False) -> CacheLookup:
        """hit, semantic-hit (with score), miss (call upstream, then store) or bypass (never cached);
        *exact_checked*: `exact` already missed for *q*, so only the semantic tier is read."""
        ...

    async def store(self, q: CacheQuery, lookup: CacheLookup, answer: StoredAnswer) -> None:
        """Keep *answer* for a miss; anything else, and incomplete responses, are ignored."""
        ...

    async def observe(self, q: CacheQuery, lookup: CacheLookup, response: Completion) -> bool | None:
        """Verification: does the model's *response* agree with the semantic hit *lookup* served? (learned)"""
        ...

    async def pretrain(self, q: CacheQuery, vectors: np.ndarray, answers: Sequence[str]) -> int:
        """Bounded-rule evidence from labelled pairs for *q*'s route; how many observations it added."""
        ...

    async def coalesce(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run *fn* once for concurrent callers with the same non-empty key."""
        ...

    async def fill(self, q: CacheQuery, lookup: CacheLookup,
                   fn: Callable[[], Awaitable[StoredAnswer]]) -> StoredAnswer:
        """The miss path in one call: coalesce on the key, call *fn* once, store its response."""
        ...


class NoCache:
    """Every request bypasses: nothing is read, written or coalesced."""

    def __init__(self) -> None:
        self.stats = CacheStats()

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def exact(self, q: CacheQuery) -> CacheLookup | None:
        return None

    async def lookup(self, q: CacheQuery, exact_checked: bool = False) -> CacheLookup:
        self.stats.bypasses += 1
        return BYPASS

    async def store(self, q: CacheQuery, lookup: CacheLookup, answer: StoredAnswer) -> None:
        return None

    async def observe(self, q: CacheQuery, lookup: CacheLookup, response: Completion) -> bool | None:
        return None

    async def pretrain(self, q: CacheQuery, vectors: np.ndarray, answers: Sequence[str]) -> int:
        return 0

    async def coalesce(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        return await fn()

    async def fill(self, q: CacheQuery, lookup: CacheLookup,
                   fn: Callable[[], Awaitable[StoredAnswer]]) -> StoredAnswer:
        return await fn()
