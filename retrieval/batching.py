"""Micro-batching: concurrent callers share one forward pass, run off the event loop.

A BatchWorker (retrieval/batch_worker.py) collects the texts: whatever arrived while the previous
pass ran, plus whatever arrives within `max_wait_ms` (0 by default: a lone request goes at once),
at most `max_batch` of them. A batch encodes each distinct text once; recent texts are answered
from a small LRU without touching the model. When a pass fails, each text is tried alone, so
one text the model cannot take fails only its own caller.
"""

from __future__ import annotations

from collections.abc import Sequence

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


class MicroBatcher:
    """Embeds single texts for many concurrent callers with as few forward passes as it can."""

    def __init__(
        self, embedder: Embedder, max_batch: int = 64, max_wait_ms: float = 0.0, cache_size: int = 4096,
        sub_batch: int = 8,
    ) -> None:
        if sub_batch < 1:
            raise ValueError("sub_batch must be at least 1")
        self.embedder = embedder
        # the embedder sorts a call's texts by length and pads each sub-batch to its longest,
        # so short texts are not padded to a long one's length: 1.8x texts/s at batch 32 (bench/).
        self.sub_batch = sub_batch
        self.cache = VectorLRU(cache_size)
        # one thread: forward passes run one at a time, each on the embedder's own threads
        self._worker: BatchWorker[str, np.ndarray] = BatchWorker(self._encode, max_batch, name="embed",
                                                                 max_wait_ms=max_wait_ms)

    @property
    def forward_passes(self) -> int:
        return self._worker.batches

    async def embed(self, text: str) -> np.ndarray:
        """The normalised vector of *text*, shape (dim,), read-only."""
        cached = self.cache.get(text)
        if cached is not None:
            return cached
        vector = await self._worker.submit(text)
        self.cache.put(text, vector)
        return vector

    async def aclose(self) -> None:
        """Stop the worker, fail whoever still waits, release the thread."""
        await self._worker.aclose()

    def _encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The vectors of *texts* in order, each distinct text encoded once (in the worker thread)."""
        distinct = list(dict.fromkeys(texts))
        by_text = dict(zip(distinct, map(_frozen, self.embedder.encode(distinct, self.sub_batch)), strict=True))
        return [by_text[text] for text in texts]


def _frozen(vector: np.ndarray) -> np.ndarray:
    # callers share cached arrays, so none may write into them
    vector = np.array(vector, dtype=np.float32)
    vector.flags.writeable = False
    return vector
