"""Micro-batching: concurrent callers share one forward pass, run off the event loop.

A BatchWorker (retrieval/batch_worker.py) collects the texts: whatever arrived while the previous
pass ran, plus whatever arrives within `max_wait_ms` (0 by default: a lone request goes at once),
at most `max_batch` of them. A batch encodes each distinct text once; recent texts are answered
from a small LRU without touching the model. When a pass fails, each text is tried alone, so
one text the model cannot take fails only its own caller.

A caller may hand work that reads the vector along with its text (`embed_then`): the retrieval of a
request the cache reads no vector for. A small pass runs it in the same thread straight after, which
saves that request a round trip through the event loop to another thread; a big pass (a busy thread)
hands it back, so it runs beside the next pass instead of after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from cachetools import LRUCache

from retrieval.batch_worker import BatchWorker
from retrieval.types import Embedder


class VectorLRU(LRUCache):
    """The most recent texts and their vectors, bounded by count; capacity 0 keeps none."""

    def __init__(self, capacity: int) -> None:
        super().__init__(maxsize=capacity)

    def put(self, text: str, vector: np.ndarray) -> None:
        if self.maxsize > 0:
            self[text] = vector


FOLD_MOST = 2
"""Passes of at most this many texts run their `then` work in the embedding thread. A bigger pass means a
busy thread: its follow-up work goes back to the caller, which runs it elsewhere in parallel."""

Then = Callable[[Sequence[tuple[np.ndarray, Any]]], Sequence[Any]]
"""Work that reads vectors, run in the embedding thread on the batch's (vector, job) pairs: one call per batch."""


class MicroBatcher:
    """Embeds single texts for many concurrent callers with as few forward passes as it can."""

    def __init__(
        self, embedder: Embedder, max_batch: int = 64, max_wait_ms: float = 0.0, cache_size: int = 4096,
        sub_batch: int = 8, initializer: Callable[[], object] | None = None,
    ) -> None:
        """*initializer* runs once in the embedding thread (per-thread library settings for `then` work)."""
        if sub_batch < 1:
            raise ValueError("sub_batch must be at least 1")
        self.embedder = embedder
        # the embedder sorts a call's texts by length and pads each sub-batch to its longest,
        # so short texts are not padded to a long one's length: 1.8x texts/s at batch 32 (bench/).
        self.sub_batch = sub_batch
        self.cache = VectorLRU(cache_size)
        # one thread: forward passes run one at a time, each on the embedder's own threads
        self._worker: BatchWorker[tuple[str, Then | None, Any], tuple[np.ndarray, Any]] = BatchWorker(
            self._encode, max_batch, name="embed", initializer=initializer, max_wait_ms=max_wait_ms)

    @property
    def forward_passes(self) -> int:
        return self._worker.batches

    async def embed(self, text: str) -> np.ndarray:
        """The normalised vector of *text*, shape (dim,), read-only."""
        cached = self.cache.get(text)
        if cached is not None:
            return cached
        vector, _ = await self._worker.submit((text, None, None))
        self.cache.put(text, vector)
        return vector

    async def embed_then(self, text: str, then: Then, job: Any) -> tuple[np.ndarray, Any]:
        """The vector of *text* and then(...)'s result for (vector, *job*), both from the embedding thread:
        the work that reads the vector follows the pass without a round trip through the event loop, and the
        batch's jobs that share *then* go to it in one call. A text the LRU answers runs no pass, and a pass
        of more than FOLD_MOST texts runs no *then*: the result is then None, and the caller does that work."""
        cached = self.cache.get(text)
        if cached is not None:
            return cached, None
        vector, result = await self._worker.submit((text, then, job))
        self.cache.put(text, vector)
        return vector, result

    async def aclose(self) -> None:
        """Stop the worker, fail whoever still waits, release the thread."""
        await self._worker.aclose()

    def _encode(self, items: Sequence[tuple[str, Then | None, Any]]) -> list[tuple[np.ndarray, Any]]:
        """(vector, then's result or None) per item in order, each distinct text encoded once (in the worker
        thread)."""
        distinct = list(dict.fromkeys(text for text, _, _ in items))
        by_text = dict(zip(distinct, map(_frozen, self.embedder.encode(distinct, self.sub_batch)), strict=True))
        vectors = [by_text[text] for text, _, _ in items]
        results: list[Any] = [None] * len(items)
        groups: dict[Then, list[int]] = {}
        for number, (_, then, _) in enumerate(items):
            if then is not None:
                groups.setdefault(then, []).append(number)
        if len(items) > FOLD_MOST:
            return [(vector, None) for vector in vectors]
        for then, members in groups.items():
            done = then([(vectors[number], items[number][2]) for number in members])
            for number, result in zip(members, done, strict=True):
                results[number] = result
        return list(zip(vectors, results, strict=True))


def _frozen(vector: np.ndarray) -> np.ndarray:
    # callers share cached arrays, so none may write into them
    vector = np.array(vector, dtype=np.float32)
    vector.flags.writeable = False
    return vector
