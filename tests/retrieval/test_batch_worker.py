"""BatchWorker: concurrent callers share one call, in a thread; a failing item fails only its caller."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from retrieval.batch_worker import BatchWorker


class RecordingDoubler:
    """Doubles numbers; records each batch and the thread it ran on; refuses negative numbers."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()
        self.delay_s = delay_s

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay_s)
        if any(item < 0 for item in items):
            raise ValueError("negative")
        return [2 * item for item in items]


async def test_callers_waiting_together_share_one_call_off_the_event_loop() -> None:
    run = RecordingDoubler()
    worker = BatchWorker(run, name="doubler")
    results = await asyncio.gather(*(worker.submit(i) for i in range(20)))
    await worker.aclose()
    assert results == [2 * i for i in range(20)]
    assert run.batches == [list(range(20))]
    assert all(name.startswith("doubler") for name in run.threads)


async def test_items_arriving_during_a_call_form_the_next_batch_up_to_max_batch() -> None:
    run = RecordingDoubler(delay_s=0.2)
    worker = BatchWorker(run, max_batch=4)
    first = asyncio.ensure_future(worker.submit(0))
    while not run.batches:
        await asyncio.sleep(0.005)
    await asyncio.gather(first, *(worker.submit(i) for i in range(1, 7)))
    await worker.aclose()
    assert [len(batch) for batch in run.batches] == [1, 4, 2]
    assert worker.batches == 3


async def test_a_failing_item_fails_only_its_own_caller() -> None:
    run = RecordingDoubler()
    worker = BatchWorker(run)
    results = await asyncio.gather(*(worker.submit(i) for i in (1, -1, 3)), return_exceptions=True)
    await worker.aclose()
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError)


async def test_closing_fails_callers_still_waiting() -> None:
    worker: BatchWorker[int, int] = BatchWorker(RecordingDoubler(delay_s=0.3))
    waiting = [asyncio.ensure_future(worker.submit(i)) for i in range(3)]
    await asyncio.sleep(0.05)
    await worker.aclose()
    for future in waiting:
        with pytest.raises(RuntimeError, match="closed"):
            await future


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        BatchWorker(RecordingDoubler(), max_batch=0)


async def test_the_initializer_runs_in_the_worker_thread_before_the_first_batch() -> None:
    local = threading.local()
    worker = BatchWorker(lambda items: [getattr(local, "ready", False) for _ in items],
                         initializer=lambda: setattr(local, "ready", True))
    assert await worker.submit(1) is True
    await worker.aclose()
    assert getattr(local, "ready", False) is False  # set in the worker's thread, not this one
