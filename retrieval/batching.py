"""Micro-batching: concurrent callers share one forward pass, run off the event loop.

A request waits at most `max_wait_ms` for company and a batch holds at most `max_batch`
texts. While one forward pass runs in the worker thread, new requests queue up and form
the next batch, so under load batches fill without any waiting. Recent texts are answered
from a small LRU without touching the model.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from cachetools import LRUCache

from retrieval.types import Embedder

_Pending = tuple[str, asyncio.Future[np.ndarray]]


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
        self, embedder: Embedder, max_batch: int = 64, max_wait_ms: float = 2.0, cache_size: int = 4096,
        sub_batch: int = 8,
    ) -> None:
        if max_batch < 1 or sub_batch < 1:
            raise ValueError("max_batch and sub_batch must be at least 1")
        self.embedder = embedder
        self.max_batch = max_batch
        # sentence-transformers sorts a call's texts by length and pads each sub-batch to its longest,
        # so short texts are not padded to a long one's length: 1.8x texts/s at batch 32 (bench/).
        self.sub_batch = sub_batch
        self.max_wait_s = max_wait_ms / 1000
        self.cache = VectorLRU(cache_size)
        self.forward_passes = 0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        # One thread: forward passes run one at a time; torch already uses every core for each.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        self._worker: asyncio.Task[None] | None = None

    async def embed(self, text: str) -> np.ndarray:
        """The normalised vector of *text*, shape (dim,), read-only."""
        cached = self.cache.get(text)
        if cached is not None:
            return cached
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._serve())
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((text, future))
        return await future

    async def aclose(self) -> None:
        """Stop the worker, fail whoever still waits, release the thread."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        waiting: list[_Pending] = []
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        _fail(waiting, RuntimeError("embedder closed"))
        self._executor.shutdown(wait=True)

    async def _serve(self) -> None:
        batch: list[_Pending] = []
        try:
            while True:
                batch = []
                await self._collect(batch)
                await self._forward(batch)
        finally:
            _fail(batch, RuntimeError("embedder closed"))

    async def _collect(self, batch: list[_Pending]) -> None:
        """Fill *batch*: the first waiting request, plus whoever arrives within the wait."""
        batch.append(await self._queue.get())
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            try:
                # A timed-out get leaves its item in the queue, so nothing is lost here.
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                return

    async def _forward(self, batch: list[_Pending]) -> None:
        texts = list(dict.fromkeys(text for text, _ in batch))
        loop = asyncio.get_running_loop()
        try:
            vectors = await loop.run_in_executor(self._executor, self.embedder.encode, texts, self.sub_batch)
        except Exception as exc:  # the failure belongs to the callers; the worker keeps serving
            _fail(batch, exc)
            return
        finally:
            self.forward_passes += 1
        by_text = {text: self._frozen(vector) for text, vector in zip(texts, vectors, strict=True)}
        for text, future in batch:
            self.cache.put(text, by_text[text])
            if not future.done():
                future.set_result(by_text[text])

    @staticmethod
    def _frozen(vector: np.ndarray) -> np.ndarray:
        # Callers share cached arrays, so none may write into them.
        vector = np.array(vector, dtype=np.float32)
        vector.flags.writeable = False
        return vector


def _fail(batch: list[_Pending], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
