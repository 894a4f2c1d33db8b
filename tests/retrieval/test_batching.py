"""MicroBatcher: shared forward passes, bounded batches, the LRU, errors and shutdown."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from retrieval.batching import MicroBatcher, VectorLRU
from retrieval.embedder import SentenceEmbedder
from tests.retrieval.fakes import FakeEmbedder


async def test_concurrent_callers_share_one_forward_pass() -> None:
    fake = FakeEmbedder()
    batcher = MicroBatcher(fake, max_batch=64, max_wait_ms=50)
    texts = [f"question number {i}" for i in range(32)]
    vectors = await asyncio.gather(*(batcher.embed(text) for text in texts))
    await batcher.aclose()
    assert len(fake.calls) == 1
    assert sorted(fake.calls[0]) == sorted(texts)
    for text, vector in zip(texts, vectors, strict=True):
        assert vector.shape == (fake.dim,)
        np.testing.assert_allclose(vector, fake.vector(text), atol=1e-6)


async def test_batches_never_exceed_max_batch() -> None:
    fake = FakeEmbedder()
    batcher = MicroBatcher(fake, max_batch=4, max_wait_ms=50)
    await asyncio.gather(*(batcher.embed(f"text {i}") for i in range(10)))
    await batcher.aclose()
    assert [len(call) for call in fake.calls] == [4, 4, 2]


async def test_requests_arriving_during_a_forward_pass_form_the_next_batch() -> None:
    fake = FakeEmbedder(delay_s=0.2)
    batcher = MicroBatcher(fake, max_batch=64, max_wait_ms=0)
    first = asyncio.ensure_future(batcher.embed("first"))
    while not fake.calls:
        await asyncio.sleep(0.005)
    later = [batcher.embed(f"later {i}") for i in range(8)]
    await asyncio.gather(first, *later)
    await batcher.aclose()
    assert [len(call) for call in fake.calls] == [1, 8]
    assert batcher.forward_passes == 2


async def test_forward_pass_runs_off_the_event_loop() -> None:
    fake = FakeEmbedder(delay_s=0.3)
    batcher = MicroBatcher(fake, max_wait_ms=0)
    ticks = 0
    embedding = asyncio.ensure_future(batcher.embed("slow"))
    while not embedding.done():
        ticks += 1
        await asyncio.sleep(0.01)
    await batcher.aclose()
    # The loop kept turning while the (blocking) fake encode slept in the worker thread.
    assert ticks > 3


async def test_recent_texts_come_from_the_lru_and_duplicates_are_encoded_once() -> None:
    fake = FakeEmbedder()
    batcher = MicroBatcher(fake, max_wait_ms=20)
    a, b = await asyncio.gather(batcher.embed("same text"), batcher.embed("same text"))
    again = await batcher.embed("same text")
    await batcher.aclose()
    assert fake.calls == [["same text"]]
    assert again is a and b is a
    assert not again.flags.writeable


class FakePoisonedEmbedder(FakeEmbedder):
    """A fake whose model cannot take one text: every pass that holds it fails."""

    def encode(self, texts, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        if "poison" in texts:
            super().encode([], batch_size)  # recorded as a call, like the pass that failed
            raise RuntimeError("fake encode failure")
        return super().encode(texts, batch_size)


async def test_a_failed_pass_is_retried_text_by_text_so_only_the_bad_text_fails() -> None:
    fake = FakePoisonedEmbedder()
    batcher = MicroBatcher(fake, max_wait_ms=20)
    good, bad = await asyncio.gather(batcher.embed("fine"), batcher.embed("poison"), return_exceptions=True)
    assert isinstance(bad, RuntimeError) and "fake encode failure" in str(bad)
    np.testing.assert_allclose(good, fake.vector("fine"), atol=1e-6)
    vector = await batcher.embed("c")  # the worker keeps serving
    await batcher.aclose()
    assert vector.shape == (fake.dim,)


async def test_a_transient_failure_is_answered_by_the_retry() -> None:
    fake = FakeEmbedder()
    fake.fail_next = True
    batcher = MicroBatcher(fake, max_wait_ms=20)
    vectors = await asyncio.gather(batcher.embed("a"), batcher.embed("b"))
    await batcher.aclose()
    assert [len(call) for call in fake.calls] == [2, 1, 1]
    for text, vector in zip("ab", vectors, strict=True):
        np.testing.assert_allclose(vector, fake.vector(text), atol=1e-6)


async def test_aclose_fails_waiting_callers() -> None:
    fake = FakeEmbedder(delay_s=0.2)
    batcher = MicroBatcher(fake, max_wait_ms=0)
    waiting = asyncio.ensure_future(batcher.embed("never answered"))
    await asyncio.sleep(0.05)
    await batcher.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await waiting


def test_lru_evicts_the_least_recently_used() -> None:
    lru = VectorLRU(capacity=2)
    one, two, three = (np.full(2, i, dtype=np.float32) for i in range(3))
    lru.put("one", one)
    lru.put("two", two)
    assert lru.get("one") is one
    lru.put("three", three)
    assert lru.get("two") is None
    assert lru.get("one") is one and lru.get("three") is three
    assert len(lru) == 2


async def test_batched_vectors_match_one_pass_per_text_with_the_real_model(embedder: SentenceEmbedder) -> None:
    texts = ["card still not here", "exchange rate for euros", "pin blocked", "how long do transfers take?"]
    batcher = MicroBatcher(embedder, max_wait_ms=50)
    batched = await asyncio.gather(*(batcher.embed(text) for text in texts))
    await batcher.aclose()
    assert batcher.forward_passes == 1
    for text, vector in zip(texts, batched, strict=True):
        np.testing.assert_allclose(vector, embedder.encode([text])[0], atol=1e-5)


async def test_a_micro_batch_is_encoded_in_length_sorted_sub_batches() -> None:
    fake = FakeEmbedder()
    batcher = MicroBatcher(fake, max_batch=64, max_wait_ms=50, sub_batch=8)
    await asyncio.gather(*(batcher.embed(f"text {i}") for i in range(20)))
    await batcher.aclose()
    # one call (one thread hop) for all 20; the embedder pads per sub-batch of 8
    assert [len(call) for call in fake.calls] == [20]
    assert fake.batch_sizes == [8]


def test_sub_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sub_batch"):
        MicroBatcher(FakeEmbedder(), sub_batch=0)
