"""The bounded rule on the shared Redis: evidence and guard data reach every replica."""

from __future__ import annotations

import pytest

from gateway.cache import StoredAnswer, build_cache, evidence_space
from gateway.cache.bounded import Cell, Observation
from gateway.cache.redis_evidence import RedisEvidence
from gateway.cache.redis_store import redis_client
from gateway.cache.tiered import TieredCache
from gateway.config.gateway_sections import CacheStoreConfig
from gateway.config.route_sections import CacheSettings, SemanticSettings
from tests.gateway.cache.conftest import DIM, SHARED_REDIS, completion, near, query, unit
from tests.gateway.cache.test_redis_store import eventually

pytestmark = pytest.mark.slow
BOUNDED = CacheSettings(semantic=SemanticSettings(max_error=0.01))


async def replica(prefix: str) -> TieredCache:
    evidence = RedisEvidence(redis_client(SHARED_REDIS, 1.0), prefix, refresh_s=0.05, rebuild_s=0.0)
    cache = build_cache(CacheStoreConfig(url=SHARED_REDIS, key_prefix=prefix), DIM, evidence=evidence)
    assert isinstance(cache, TieredCache)
    await cache.start()
    return cache


async def test_evidence_learned_on_one_replica_serves_on_another(redis_prefix: str) -> None:
    a, b = await replica(redis_prefix), await replica(redis_prefix)
    try:
        q = query("What is my balance?", vector=unit(1), settings=BOUNDED)
        await a.store(q, await a.lookup(q), StoredAnswer(completion("balance")))
        paraphrase = query("How much money do I have?", vector=near(unit(1), 0.995), settings=BOUNDED)
        assert await eventually(lambda: len(b._index) == 1)
        assert (await b.lookup(paraphrase)).status == "miss"  # no evidence anywhere yet
        space = evidence_space(paraphrase)
        await a.evidence.pretrain(space, [Observation(Cell(1, 99), False)] * 600)

        async def served_by_b() -> bool:
            return (await b.lookup(paraphrase)).status == "semantic-hit"

        assert await eventually(served_by_b)
        hit = await b.lookup(paraphrase)
        assert hit.rule == "bounded" and hit.error is not None and hit.error <= 0.01
        # b verifies and finds the cached answer wrong: a learns it too
        await b.observe(paraphrase, hit, completion("top_up"))
        assert await eventually(lambda: a.evidence.counts(space).get("1:99") == (601, 1))
    finally:
        await a.aclose()
        await b.aclose()


async def test_guard_text_travels_with_the_entry(redis_prefix: str) -> None:
    settings = CacheSettings(semantic_threshold=0.5)
    a, b = await replica(redis_prefix), await replica(redis_prefix)
    try:
        q = query("Why was my card declined?", vector=unit(2), settings=settings)
        await a.store(q, await a.lookup(q), StoredAnswer(completion("declined_card_payment")))
        assert await eventually(lambda: len(b._index) == 1)
        negated = query("Why wasn't my card declined?", vector=near(unit(2), 0.999), settings=settings)
        assert (await b.lookup(negated)).status == "miss"
        assert b.stats.guarded == 1
        same = query("Why did my card get declined?", vector=near(unit(2), 0.97), settings=settings)
        assert (await b.lookup(same)).status == "semantic-hit"
    finally:
        await a.aclose()
        await b.aclose()
