"""Redis down, hung or restarted under traffic: every request is served, caching comes back by itself.

Each test runs its own redis-server (the shared one on 6379 is left alone).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from gateway.cache import ResponseCache, StoredAnswer, build_cache
from gateway.config.gateway_sections import CacheStoreConfig
from tests.gateway.cache.conftest import DIM, RedisServer, completion
from tests.gateway.cache.replica import exact_query, paraphrase_query
from tests.gateway.cache.test_redis_store import eventually

pytestmark = pytest.mark.slow


async def started(server: RedisServer) -> ResponseCache:
    config = CacheStoreConfig(url=server.url, key_prefix="faults", socket_timeout_ms=100, retry_after_s=0.2)
    cache = build_cache(config, DIM)
    await cache.start()
    return cache


async def serve(cache: ResponseCache, i: int) -> str:
    """One request as the gateway makes it: lookup, then the coalesced upstream call and store on a miss."""
    q = exact_query(i % 10, "traffic")
    lookup = await cache.lookup(q)
    if lookup.response is None:
        await cache.fill(q, lookup, lambda: _upstream(i))
    return lookup.status


async def _upstream(i: int) -> StoredAnswer:
    return StoredAnswer(completion(f"answer {i % 10}"))


async def traffic(cache: ResponseCache, stop: asyncio.Event, statuses: list[str]) -> None:
    i = 0
    while not stop.is_set():
        statuses.append(await serve(cache, i))
        i += 1
        await asyncio.sleep(0.01)


async def test_redis_restarted_mid_traffic(own_redis: RedisServer) -> None:
    cache, other = await started(own_redis), await started(own_redis)
    stop, statuses = asyncio.Event(), []
    running = asyncio.create_task(traffic(cache, stop, statuses))
    try:
        assert await eventually(lambda: (statuses.count("hit") >= 10))
        own_redis.stop()
        down_at = len(statuses)
        assert await eventually(lambda: (len(statuses) > down_at + 30))
        assert cache.stats.available is False
        assert cache.stats.store_errors >= 1 and cache.stats.store_skipped >= 1
        own_redis.start()
        up_at = len(statuses)
        assert await eventually(lambda: (statuses[up_at:].count("hit") >= 10), timeout_s=10)
        assert cache.stats.available is True
    finally:
        stop.set()
        await running
    # One request may have had its answer in flight when the server stopped.
    assert Counter(statuses[down_at + 1 : up_at])["hit"] == 0
    # The restarted Redis is empty; new semantic entries reach the other replica's feed again.
    q = exact_query(42, "after")
    await cache.store(q, await cache.lookup(q), StoredAnswer(completion("after restart")))

    async def semantic_hit_in_other() -> bool:
        return (await other.lookup(paraphrase_query(42, "after"))).status == "semantic-hit"

    assert await eventually(semantic_hit_in_other, timeout_s=10)
    assert other.stats.stream_errors >= 1
    await cache.aclose()
    await other.aclose()


async def test_hung_redis_times_out_into_misses(own_redis: RedisServer) -> None:
    cache = await started(own_redis)
    try:
        q = exact_query(1, "hung")
        await cache.store(q, await cache.lookup(q), StoredAnswer(completion()))
        assert (await cache.lookup(q)).status == "hit"
        own_redis.pause()
        # wait_for only turns a hang into a failure; the socket timeout is what keeps lookups short.
        statuses = [(await asyncio.wait_for(cache.lookup(q), 10)).status for _ in range(5)]
        assert statuses == ["miss"] * 5
        assert cache.stats.store_errors >= 1
        assert cache.stats.store_errors + cache.stats.store_skipped == 5
        own_redis.resume()
        assert await eventually(lambda: _status_is(cache, q, "hit"))
    finally:
        own_redis.resume()
        await cache.aclose()


async def test_redis_down_at_start_then_up(own_redis: RedisServer) -> None:
    own_redis.stop()
    config = CacheStoreConfig(url=own_redis.url, key_prefix="faults", retry_after_s=0.2)
    cache = build_cache(config, DIM)
    try:
        await asyncio.wait_for(cache.start(), timeout=10)
        q = exact_query(1, "late")
        assert (await cache.lookup(q)).status == "miss"
        own_redis.start()

        async def stored_and_hit() -> bool:
            await cache.fill(q, await cache.lookup(q), lambda: _upstream(1))
            return (await cache.lookup(q)).status == "hit"

        assert await eventually(stored_and_hit, timeout_s=10)
    finally:
        await cache.aclose()


async def _status_is(cache: ResponseCache, q, status: str) -> bool:
    return (await cache.lookup(q)).status == status

