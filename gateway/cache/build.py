"""Build the cache gateway.yaml asks for: none, in-process, or Redis shared by every replica."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from gateway.cache.base import NoCache, ResponseCache
from gateway.cache.evidence import Evidence
from gateway.cache.lru import LruStore
from gateway.cache.memory import MemoryStore
from gateway.cache.semantic import SemanticIndex
from gateway.cache.stats import CacheStats
from gateway.cache.tiered import EntryStore, TieredCache
from gateway.config.gateway_sections import CacheStoreConfig


def build_cache(config: CacheStoreConfig, dim: int, clock: Callable[[], float] = time.time,
                evidence: Evidence | None = None, rng: random.Random | None = None) -> ResponseCache:
    """memory:// -> in-process LRU and semantic index; redis://... -> Redis, mirrored into each replica.

    *dim* is the embedder's dimension: every request vector the gateway passes has this length.
    Call `await cache.start()` before serving and `await cache.aclose()` on shutdown. *evidence*
    replaces the bounded rule's evidence store (by default in-process, or shared through Redis);
    *rng* draws which hits are verified (seeded by a replay that must give the same numbers twice).
    """
    if not config.enabled:
        return NoCache()
    stats = CacheStats()
    index = SemanticIndex(dim, config.max_entries, clock)
    return TieredCache(_store(config, index, stats, clock), index, stats, clock, evidence or _evidence(config), rng)


def _evidence(config: CacheStoreConfig) -> Evidence:
    if config.url.startswith("memory://"):
        return Evidence()
    from gateway.cache.redis_evidence import RedisEvidence
    from gateway.cache.redis_store import redis_client

    return RedisEvidence(redis_client(config.url, config.socket_timeout_ms / 1000), config.key_prefix)


def _store(config: CacheStoreConfig, index: SemanticIndex, stats: CacheStats, clock: Callable[[], float]) -> EntryStore:
    if config.url.startswith("memory://"):
        return MemoryStore(LruStore(config.max_entries, clock), index)
    # Imported here so the embedded default never loads the Redis client.
    from gateway.cache.redis_store import RedisStore

    return RedisStore(config, index, stats)
