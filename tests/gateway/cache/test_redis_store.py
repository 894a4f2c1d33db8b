"""The cache on the real Redis at 127.0.0.1:6379, shared by separate cache instances and processes."""

from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import pytest

from gateway.cache import CacheControl, ResponseCache, StoredAnswer, build_cache
from gateway.config.gateway_sections import CacheStoreConfig
from gateway.config.route_sections import CacheSettings
from tests.conftest import REPO
from tests.gateway.cache.conftest import DIM, SHARED_REDIS, completion, query
from tests.gateway.cache.replica import exact_query, paraphrase_query

pytestmark = pytest.mark.slow


async def started(prefix: str, url: str = SHARED_REDIS, **overrides: object) -> ResponseCache:
    cache = build_cache(CacheStoreConfig(url=url, key_prefix=prefix, **overrides), DIM)
    await cache.start()
    return cache


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 5.0) -> bool:
    """Poll *check* until it holds or *timeout_s* passes; replicas see each other's writes shortly after."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return True
        await asyncio.sleep(0.05)
    return False


def run_replica(prefix: str, mode: str, n: int, tag: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.gateway.cache.replica", SHARED_REDIS, prefix, mode, str(n), tag],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


async def test_exact_and_semantic_entries_are_shared_between_instances(redis_prefix: str) -> None:
    a, b = await started(redis_prefix), await started(redis_prefix)
    try:
        q = exact_query(1, "live")
        await a.store(q, await a.lookup(q), StoredAnswer(completion("from a")))
        hit = await b.lookup(exact_query(1, "live"))
        assert (hit.status, hit.response) == ("hit", completion("from a"))

        async def semantic_hit_in_b() -> bool:
            return (await b.lookup(paraphrase_query(1, "live"))).status == "semantic-hit"

        assert await eventually(semantic_hit_in_b)
        assert b.stats.semantic_received >= 1
    finally:
        await a.aclose()
        await b.aclose()


async def test_two_processes_share_both_ways_with_catch_up_on_start(redis_prefix: str) -> None:
    follower = await started(redis_prefix)
    try:
        assert run_replica(redis_prefix, "write", 5, "proc") == ["miss"] * 5

        async def all_semantic_hits() -> bool:
            looked = [await follower.lookup(paraphrase_query(i, "proc")) for i in range(5)]
            return all(lookup.status == "semantic-hit" for lookup in looked)

        assert await eventually(all_semantic_hits)
        assert (await follower.lookup(exact_query(0, "proc"))).response == completion("proc answer 0")

        q = exact_query(0, "main")
        await follower.store(q, await follower.lookup(q), StoredAnswer(completion("main answer 0")))
    finally:
        await follower.aclose()
    # A replica started after the writes sees them at once: the catch-up runs before start() returns.
    statuses = run_replica(redis_prefix, "read", 5, "proc") + run_replica(redis_prefix, "read", 1, "main")
    assert statuses[0::2] == ["hit"] * 6
    assert all(header.startswith("semantic-hit;score=0.97") for header in statuses[1::2])


async def test_ttl_holds_for_exact_and_semantic_entries_and_catch_up(redis_prefix: str) -> None:
    writer = await started(redis_prefix)
    short = CacheSettings(ttl_s=1, semantic_threshold=0.9)
    try:
        brief = query("short lived", vector=exact_query(7, "t").vector, settings=short)
        await writer.store(brief, await writer.lookup(brief), StoredAnswer(completion()))
        lasting = exact_query(8, "t")
        await writer.store(lasting, await writer.lookup(lasting), StoredAnswer(completion()))
        assert (await writer.lookup(brief)).status == "hit"
        await asyncio.sleep(1.3)
        assert (await writer.lookup(brief)).status == "miss"
        assert (await writer.lookup(query("other words", vector=brief.vector, settings=short))).status == "miss"
    finally:
        await writer.aclose()
    late = await started(redis_prefix)
    try:
        assert late.stats.semantic_received == 2
        assert late.semantic_entries == 1
        assert (await late.lookup(paraphrase_query(8, "t"))).status == "semantic-hit"
    finally:
        await late.aclose()


async def test_refresh_and_no_store_on_redis(redis_prefix: str) -> None:
    cache = await started(redis_prefix)
    try:
        q = query("refresh me")
        await cache.store(q, await cache.lookup(q), StoredAnswer(completion("old")))
        refresh = query("refresh me", control=CacheControl.REFRESH)
        lookup = await cache.lookup(refresh)
        assert lookup.status == "miss"
        await cache.store(refresh, lookup, StoredAnswer(completion("new")))
        assert (await cache.lookup(q)).response == completion("new")
        assert (await cache.lookup(query("refresh me", control=CacheControl.NO_STORE))).status == "bypass"
    finally:
        await cache.aclose()
