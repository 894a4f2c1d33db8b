"""Semantic hits by rule (threshold, agreement, bounded), the contrast guard, and learning from answers."""

from __future__ import annotations

import random

import numpy as np
import pytest

from gateway.cache import ResponseCache, StoredAnswer, build_cache, evidence_space
from gateway.cache.bounded import Cell, Observation
from gateway.cache.evidence import Evidence
from gateway.cache.tiered import TieredCache
from gateway.config.gateway_sections import CacheStoreConfig
from gateway.config.route_sections import CacheSettings, SemanticSettings
from tests.gateway.cache.conftest import DIM, completion, near, query, unit

BOUNDED = CacheSettings(semantic=SemanticSettings(max_error=0.01))


@pytest.fixture
async def cache() -> ResponseCache:
    cache = build_cache(CacheStoreConfig(url="memory://", max_entries=100), DIM, evidence=Evidence(rebuild_s=0))
    assert isinstance(cache, TieredCache)
    cache._rng = random.Random(3)
    await cache.start()
    yield cache
    await cache.aclose()


async def remember(cache: ResponseCache, text: str, vector, answer: str, settings: CacheSettings) -> None:
    q = query(text, vector=vector, settings=settings)
    await cache.store(q, await cache.lookup(q), StoredAnswer(completion(answer)))


async def pretrain(cache: TieredCache, cell: Cell, total: int, wrong: int = 0) -> None:
    space = evidence_space(query(settings=BOUNDED))
    await cache.evidence.pretrain(space, [Observation(cell, i < wrong) for i in range(total)])


async def test_bounded_without_evidence_serves_nothing_and_learns_from_the_miss(cache: TieredCache) -> None:
    await remember(cache, "What is my balance?", unit(1), "balance", BOUNDED)
    q = query("How much money do I have?", vector=near(unit(1), 0.995), settings=BOUNDED)
    lookup = await cache.lookup(q)
    assert lookup.status == "miss" and lookup.cell == Cell(1, 99) and lookup.rule == "bounded"
    await cache.store(q, lookup, StoredAnswer(completion("Balance.")))  # the model agrees (normalised comparison)
    assert cache.evidence.counts(lookup.space) == {"1:99": (1, 0)}
    other = query("How much money is left?", vector=near(unit(1), 0.991, seed=5), settings=BOUNDED)
    missed = await cache.lookup(other)
    await cache.store(other, missed, StoredAnswer(completion("card_arrival")))  # the model disagrees
    counts = cache.evidence.counts(lookup.space).values()
    assert (sum(t for t, _ in counts), sum(w for _, w in counts)) == (2, 1)
    assert cache.stats.evidence == 2


async def test_bounded_serves_where_the_evidence_bounds_the_error(cache: TieredCache) -> None:
    await remember(cache, "What is my balance?", unit(1), "balance", BOUNDED)
    await pretrain(cache, Cell(1, 99), 600)
    hit = await cache.lookup(query("How much money do I have?", vector=near(unit(1), 0.995), settings=BOUNDED))
    assert hit.status == "semantic-hit" and hit.rule == "bounded"
    assert hit.error is not None and 0 < hit.error <= 0.01
    assert hit.header() == f"semantic-hit;score=0.995;rule=bounded;error={hit.error:.4f}"
    lower = await cache.lookup(query("Money left?", vector=near(unit(1), 0.95), settings=BOUNDED))
    assert lower.status == "miss" and lower.cell == Cell(1, 95)  # no evidence at 0.95 yet


async def test_bad_evidence_stops_the_bounded_rule(cache: TieredCache) -> None:
    await remember(cache, "What is my balance?", unit(1), "balance", BOUNDED)
    await pretrain(cache, Cell(1, 99), 600, wrong=30)
    lookup = await cache.lookup(query("How much money do I have?", vector=near(unit(1), 0.995), settings=BOUNDED))
    assert lookup.status == "miss"


async def test_verification_compares_and_learns(cache: TieredCache) -> None:
    await remember(cache, "What is my balance?", unit(1), "balance", BOUNDED)
    await pretrain(cache, Cell(1, 99), 5)
    q = query("How much money do I have?", vector=near(unit(1), 0.995), settings=BOUNDED)
    # 5 observations are too few for a 1% bound: nothing served yet
    assert (await cache.lookup(q)).status == "miss"
    await pretrain(cache, Cell(1, 99), 595)
    hit = await cache.lookup(q)
    assert hit.status == "semantic-hit"
    assert await cache.observe(q, hit, completion("  BALANCE ")) is True
    assert await cache.observe(q, hit, completion("top_up")) is False
    assert (cache.stats.verified, cache.stats.verified_wrong) == (2, 1)
    assert cache.evidence.counts(hit.space)["1:99"] == (602, 1)


async def test_thin_evidence_is_always_verified(cache: TieredCache) -> None:
    settings = CacheSettings(semantic=SemanticSettings(max_error=0.3))
    await remember(cache, "What is my balance?", unit(1), "balance", settings)
    space = evidence_space(query(settings=settings))
    await cache.evidence.pretrain(space, [Observation(Cell(1, 99), False)] * 9)
    hit = await cache.lookup(query("How much money do I have?", vector=near(unit(1), 0.995), settings=settings))
    assert hit.status == "semantic-hit" and hit.verify
    assert cache.stats.verify_requested == 1


@pytest.mark.parametrize("settings", [CacheSettings(semantic_threshold=0.5), BOUNDED])
async def test_guard_refuses_a_negation_whatever_the_score(cache: TieredCache, settings: CacheSettings) -> None:
    await remember(cache, "Why was my card declined?", unit(1), "declined_card_payment", settings)
    await pretrain(cache, Cell(1, 99), 600)
    lookup = await cache.lookup(query("Why wasn't my card declined?", vector=near(unit(1), 0.999), settings=settings))
    assert lookup.status == "miss"
    assert lookup.cell is None  # never served, so never evidence
    assert cache.stats.guarded == 1
    unguarded = settings.model_copy(update={"semantic": settings.semantic.model_copy(update={"guard": False})})
    hit = await cache.lookup(query("Why wasn't my card declined?", vector=near(unit(1), 0.999), settings=unguarded))
    assert hit.status == "semantic-hit"


async def test_agreement_needs_the_nearest_to_agree(cache: TieredCache) -> None:
    settings = CacheSettings(semantic_threshold=0.8,
                             semantic=SemanticSettings(rule="agreement", neighbours=2, min_agreement=1.0))
    for route, second in (("agreeing", "balance"), ("split", "top_up")):
        q = query("What is my balance?", route=route, vector=unit(1), settings=settings)
        await cache.store(q, await cache.lookup(q), StoredAnswer(completion("balance")))
        q = query("Show my balance", route=route, vector=near(unit(1), 0.97, seed=7), settings=settings)
        await cache.store(q, await cache.lookup(q), StoredAnswer(completion(second)))
    hit = await cache.lookup(query("How much money do I have?", route="agreeing", vector=unit(1), settings=settings))
    assert hit.status == "semantic-hit" and hit.rule == "agreement"
    split = await cache.lookup(query("How much money do I have?", route="split", vector=unit(1), settings=settings))
    assert split.status == "miss"


def test_semantic_settings_keep_the_old_flag_and_check_the_bound() -> None:
    assert CacheSettings(semantic=False).threshold_for("classification") is None
    assert CacheSettings(semantic=True).semantic.active_rule == "threshold"
    assert BOUNDED.semantic.active_rule == "bounded"
    assert BOUNDED.threshold_for("generation") == 0.75  # a bound turns semantic hits on for any task
    with pytest.raises(ValueError, match=r"needs cache\.semantic\.max_error"):
        SemanticSettings(rule="bounded")
    with pytest.raises(ValueError):
        SemanticSettings(max_error=0.01, surprise=1)


async def test_pretraining_asks_each_pair_against_the_others_once(cache: TieredCache) -> None:
    vectors = np.stack([unit(1), near(unit(1), 0.995, seed=2), near(unit(1), 0.995, seed=3), unit(9)])
    q = query(settings=BOUNDED)
    assert await cache.pretrain(q, vectors, ["balance", "Balance.", "balance", "top_up"]) == 3
    assert sum(total for total, _ in cache.evidence.counts(evidence_space(q)).values()) == 3
    assert await cache.pretrain(q, vectors, ["balance"] * 4) == 0  # once per route version
    assert await cache.pretrain(query(settings=CacheSettings()), vectors, ["balance"] * 4) == 0  # not bounded
