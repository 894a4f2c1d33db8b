"""The cache in its embedded (memory://) form; the Redis form is in test_redis_store.py."""

from __future__ import annotations

import asyncio

import pytest

from gateway.cache import CacheControl, NoCache, ResponseCache, StoredAnswer, build_cache
from gateway.config.gateway_sections import CacheStoreConfig
from gateway.config.route_sections import CacheSettings
from tests.gateway.cache.conftest import DIM, completion, near, query, unit
from tests.gateway.cache.test_lru import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def cache(clock: FakeClock) -> ResponseCache:
    cache = build_cache(CacheStoreConfig(url="memory://", max_entries=100), DIM, clock)
    await cache.start()
    yield cache
    await cache.aclose()


async def remember(cache: ResponseCache, q, text: str = "balance") -> None:
    lookup = await cache.lookup(q)
    assert lookup.status == "miss"
    await cache.store(q, lookup, StoredAnswer(completion(text)))


async def test_exact_miss_then_hit(cache: ResponseCache) -> None:
    q = query()
    first = await cache.lookup(q)
    assert (first.status, first.response, first.header()) == ("miss", None, "miss")
    await cache.store(q, first, StoredAnswer(completion("balance")))
    second = await cache.lookup(query())
    assert second.status == "hit"
    assert second.response == completion("balance")
    assert second.key == first.key
    assert cache.stats.hits == 1 and cache.stats.misses == 1 and cache.stats.stores == 1


async def test_the_exact_tier_answers_without_a_vector_and_the_lookup_after_it_reads_only_the_semantic_tier(
        cache: ResponseCache) -> None:
    settings = CacheSettings(semantic_threshold=0.9)
    stored = query("What is my balance?", vector=unit(1), settings=settings)
    await remember(cache, stored)
    assert await cache.exact(query("How much money do I have?", settings=settings)) is None
    hit = await cache.exact(query("What is my balance?", settings=settings))  # no vector: none needed
    assert hit is not None and hit.status == "hit" and hit.response == completion("balance")
    paraphrase = query("How much money do I have?", vector=near(unit(1), 0.95), settings=settings)
    assert (await cache.lookup(paraphrase, exact_checked=True)).status == "semantic-hit"
    assert cache.stats.hits == 1 and cache.stats.semantic_hits == 1 and cache.stats.misses == 1
    assert await cache.exact(query(control=CacheControl.REFRESH)) is None
    assert await cache.exact(query(control=CacheControl.NO_STORE)) is None


async def test_changed_route_index_or_params_miss(cache: ResponseCache) -> None:
    await remember(cache, query())
    assert (await cache.lookup(query(route_version="r2"))).status == "miss"
    assert (await cache.lookup(query(index_versions=("ix2",)))).status == "miss"
    assert (await cache.lookup(query(params={"temperature": 0, "max_tokens": 65}))).status == "miss"
    assert (await cache.lookup(query())).status == "hit"


async def test_no_cache_refreshes_and_no_store_bypasses(cache: ResponseCache) -> None:
    await remember(cache, query(), "old")
    refresh = await cache.lookup(query(control=CacheControl.REFRESH))
    assert refresh.status == "miss"
    await cache.store(query(control=CacheControl.REFRESH), refresh, StoredAnswer(completion("new")))
    assert (await cache.lookup(query())).response == completion("new")

    no_store = query("never seen", control=CacheControl.NO_STORE)
    bypass = await cache.lookup(no_store)
    assert (bypass.status, bypass.key) == ("bypass", "")
    await cache.store(no_store, bypass, StoredAnswer(completion("x")))
    assert (await cache.lookup(query("never seen"))).status == "miss"
    assert (await cache.lookup(query(control=CacheControl.NO_STORE))).status == "bypass"


async def test_nonzero_temperature_bypasses_unless_the_route_says_so(cache: ResponseCache) -> None:
    warm = query(params={"temperature": 0.7})
    lookup = await cache.lookup(warm)
    assert lookup.status == "bypass"
    await cache.store(warm, lookup, StoredAnswer(completion()))
    assert (await cache.lookup(warm)).status == "bypass"
    allowed = query(params={"temperature": 0.7}, settings=CacheSettings(cache_nonzero_temperature=True))
    await remember(cache, allowed)
    assert (await cache.lookup(allowed)).status == "hit"


async def test_route_can_turn_caching_off(cache: ResponseCache) -> None:
    assert (await cache.lookup(query(settings=CacheSettings(enabled=False)))).status == "bypass"


async def test_semantic_hit_above_threshold_with_score_and_miss_below(cache: ResponseCache) -> None:
    settings = CacheSettings(semantic_threshold=0.9)
    await remember(cache, query("What is my balance?", vector=unit(1), settings=settings))
    hit = await cache.lookup(query("How much money do I have?", vector=near(unit(1), 0.95), settings=settings))
    assert hit.status == "semantic-hit"
    assert hit.score == pytest.approx(0.95, abs=1e-4)
    assert hit.header() == "semantic-hit;score=0.950;rule=threshold"
    assert hit.response == completion("balance")
    below = await cache.lookup(query("Where is my card?", vector=near(unit(1), 0.85), settings=settings))
    assert below.status == "miss"
    assert cache.stats.semantic_hits == 1


async def test_semantic_hits_need_the_same_scope_and_a_vector(cache: ResponseCache) -> None:
    settings = CacheSettings(semantic_threshold=0.9)
    await remember(cache, query("a", vector=unit(1), settings=settings))
    similar = near(unit(1), 0.99)
    assert (await cache.lookup(query("b", vector=similar, settings=settings, route_version="r2"))).status == "miss"
    history = [{"role": "system", "content": "answer in French"}]
    assert (await cache.lookup(query("b", vector=similar, settings=settings, history=history))).status == "miss"
    assert (await cache.lookup(query("b", vector=None, settings=settings))).status == "miss"
    off = CacheSettings(semantic_threshold=0.9, semantic=False)
    assert (await cache.lookup(query("b", vector=similar, settings=off))).status == "miss"
    assert (await cache.lookup(query("b", vector=similar, settings=settings))).status == "semantic-hit"


async def test_task_default_threshold_applies_when_the_route_sets_none(cache: ResponseCache) -> None:
    threshold = CacheSettings().threshold_for("classification")
    await remember(cache, query("a", vector=unit(1)))
    just_above = near(unit(1), min(threshold + 0.005, 1.0))
    just_below = near(unit(1), threshold - 0.005)
    assert (await cache.lookup(query("b", vector=just_above))).status == "semantic-hit"
    assert (await cache.lookup(query("c", vector=just_below))).status == "miss"
    assert (await cache.lookup(query("d", vector=just_above, task="generation"))).status == "miss"


async def test_ttl_is_honoured_for_exact_and_semantic_entries(cache: ResponseCache, clock: FakeClock) -> None:
    settings = CacheSettings(ttl_s=10, semantic_threshold=0.9)
    await remember(cache, query("a", vector=unit(1), settings=settings))
    clock.now += 5
    assert (await cache.lookup(query("a", vector=unit(1), settings=settings))).status == "hit"
    assert (await cache.lookup(query("b", vector=unit(1), settings=settings))).status == "semantic-hit"
    clock.now += 6
    assert (await cache.lookup(query("a", vector=unit(1), settings=settings))).status == "miss"
    assert (await cache.lookup(query("b", vector=unit(1), settings=settings))).status == "miss"


async def test_errors_and_cut_streams_are_never_stored(cache: ResponseCache) -> None:
    q = query()
    for bad in (completion(finish_reason="error"), completion(finish_reason=None), {"choices": []}):
        await cache.store(q, await cache.lookup(q), StoredAnswer(bad))
    assert (await cache.lookup(q)).status == "miss"
    assert cache.stats.rejected == 3 and cache.stats.stores == 0


async def test_hits_are_not_stored_again(cache: ResponseCache) -> None:
    await remember(cache, query())
    hit = await cache.lookup(query())
    await cache.store(query(), hit, StoredAnswer(completion("other")))
    assert (await cache.lookup(query())).response == completion("balance")
    assert cache.stats.stores == 1


async def test_twenty_concurrent_identical_misses_make_one_upstream_call(cache: ResponseCache) -> None:
    calls = 0

    async def upstream() -> StoredAnswer:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return StoredAnswer(completion("once"))

    async def request() -> StoredAnswer:
        q = query("same question")
        lookup = await cache.lookup(q)
        return await cache.fill(q, lookup, upstream)

    results = await asyncio.gather(*(request() for _ in range(20)))
    assert calls == 1
    assert all(result.body == completion("once") for result in results)
    assert cache.stats.stores == 1 and cache.stats.coalesced == 19
    assert (await cache.lookup(query("same question"))).status == "hit"


async def test_bypassed_requests_are_not_coalesced(cache: ResponseCache) -> None:
    calls = 0

    async def upstream() -> StoredAnswer:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return StoredAnswer(completion("sampled"))

    q = query(params={"temperature": 1.0})
    lookup = await cache.lookup(q)
    await asyncio.gather(*(cache.fill(q, lookup, upstream) for _ in range(5)))
    assert calls == 5


async def test_no_cache_has_the_same_calls_and_always_bypasses() -> None:
    cache = build_cache(CacheStoreConfig(enabled=False), DIM)
    assert isinstance(cache, NoCache)
    await cache.start()
    lookup = await cache.lookup(query())
    assert lookup.header() == "bypass"
    await cache.store(query(), lookup, StoredAnswer(completion()))
    assert await cache.fill(query(), lookup, _answer) == StoredAnswer(completion("direct"))
    assert await cache.coalesce("k", _answer) == StoredAnswer(completion("direct"))
    assert (await cache.lookup(query())).status == "bypass"
    assert cache.stats.bypasses == 2
    await cache.aclose()


async def _answer() -> StoredAnswer:
    return StoredAnswer(completion("direct"))
