"""The negation set built from banking77's own questions: no semantic hit between a question and its negation.

Real all-MiniLM-L6-v2 vectors: the encoder scores most pairs far above any threshold, so only the
contrast guard keeps them apart. The cache serves at similarity 0.5 here, to show the guard holds
whatever the similarity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.negation_set import build, negate, read_texts
from gateway.cache import StoredAnswer, build_cache
from gateway.config.gateway_sections import CacheStoreConfig
from gateway.config.route_sections import CacheSettings
from retrieval.embedder import SentenceEmbedder
from tests.gateway.cache.conftest import completion, query

pytestmark = pytest.mark.slow
PAIRS = 200
LOW = CacheSettings(semantic_threshold=0.5)


def test_rules_negate_and_unnegate() -> None:
    assert negate("Why was my card declined?").negated == "Why wasn't my card declined?"
    assert negate("Why can't I withdraw cash?").negated == "Why can I withdraw cash?"
    assert negate("My transfer has not arrived").negated == "My transfer has arrived"
    assert negate("I want a refund").negated == "I don't want a refund"
    assert negate("Card please") is None


def test_the_set_is_seeded(banking77_dir: Path) -> None:
    texts = read_texts(banking77_dir / "train.csv", "text")
    assert build(texts, 50, seed=7) == build(texts, 50, seed=7)
    assert build(texts, 50, seed=7) != build(texts, 50, seed=8)


async def test_no_semantic_hit_between_a_question_and_its_negation(banking77_dir: Path) -> None:
    pairs = build(read_texts(banking77_dir / "train.csv", "text"), PAIRS, seed=7)
    assert len(pairs) == PAIRS
    embedder = SentenceEmbedder()
    originals = embedder.encode([p.text for p in pairs])
    negations = embedder.encode([p.negated for p in pairs])
    similarity = np.sum(originals * negations, axis=1)
    # the blind spot is real: most pairs are near-duplicates to the encoder
    assert np.median(similarity) > 0.85
    for asked, cached in ((negations, originals), (originals, negations)):
        texts = ([p.text for p in pairs], [p.negated for p in pairs])
        cached_texts, asked_texts = (texts[0], texts[1]) if cached is originals else (texts[1], texts[0])
        cache = build_cache(CacheStoreConfig(url="memory://", max_entries=PAIRS + 1), originals.shape[1])
        await cache.start()
        for i, text in enumerate(cached_texts):
            q = query(text, route=f"pair{i}", vector=cached[i], settings=LOW)
            await cache.store(q, await cache.lookup(q), StoredAnswer(completion("intent")))
        hits = [(await cache.lookup(query(text, route=f"pair{i}", vector=asked[i], settings=LOW))).status
                for i, text in enumerate(asked_texts)]
        await cache.aclose()
        assert hits.count("semantic-hit") == 0
        assert cache.stats.guarded == PAIRS
