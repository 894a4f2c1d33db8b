"""One function over the items of concurrent callers, a batch at a time, in one thread off the event loop.

Whatever callers submitted while the previous batch ran forms the next one, so a burst of
requests that finished embedding together is searched together (one FAISS call per index
instead of one per request) without any of them waiting for company. A worker given a wait
window also holds a batch open that long for more items (0, the default, never waits).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class BatchWorker(Generic[Item, Result]):
    """`await submit(item)` -> `run([..., item, ...])[i]`, with run called in the worker thread."""

    def __init__(self, run: Callable[[Sequence[Item]], Sequence[Result]], max_batch: int = 64,
                 name: str = "batch", initializer: Callable[[], object] | None = None,
                 max_wait_ms: float = 0.0) -> None:
        """*initializer* runs once in the worker thread before any batch (per-thread library settings)."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.batches = 0
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=initializer)
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        if self._worker is None:
            self._worker = loop.create_task(self._serve())
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def aclose(self) -> None:
        """Stop the worker, fail whoever still waits, release the thread."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("worker closed"))
        self._executor.shutdown(wait=True)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while True:
                batch = [await self._queue.get()]
                await self._collect(batch)
                results = await loop.run_in_executor(self._executor, self._run_isolated, [item for item, _ in batch])
                self.batches += 1
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, _Failed):
                        future.set_exception(result.error)
                    else:
                        future.set_result(result)
        finally:
            for _, future in batch:
                if not future.done():
                    future.set_exception(RuntimeError("worker closed"))

    async def _collect(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        """Add what waits in the queue to *batch*, and what arrives within the wait window."""
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            try:
                # a timed-out get leaves its item in the queue, so nothing is lost here
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                return

    def _run_isolated(self, items: list[Item]) -> list[Result | _Failed]:
        """run(items); when it fails, each item alone, so one bad item fails only its own caller."""
        try:
            return list(self.run(items))
        except Exception as exc:
            if len(items) == 1:
                return [_Failed(exc)]
        return [result for item in items for result in self._run_isolated([item])]


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error
