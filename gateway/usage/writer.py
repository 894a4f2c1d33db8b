"""Write request records off the request path: a bounded queue drained in batches by one background task.

    recorder = UsageRecorder(store, metrics)
    await recorder.start()          # in the app lifespan
    recorder.record(rec)            # per request, from the event loop: never blocks, never raises
    await recorder.aclose()         # on shutdown: everything queued is written first

A slow or failing store never slows a request: when the queue is full the record is
dropped and counted (`ragway_log_dropped_records{reason="queue_full"}`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from gateway.config.stores import LogStoreConfig
from gateway.usage.metrics import UsageMetrics
from gateway.usage.record import RequestRecord
from gateway.usage.store import UsageStore

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 3


class RecordSink(Protocol):
    """What the recorder needs from a store; `UsageStore` is the real one."""

    def migrate(self) -> int: ...

    def insert_many(self, records: Sequence[RequestRecord]) -> int: ...

    def close(self) -> None: ...


class UsageRecorder:
    """Counts every record in the metrics at once and writes it to the store in the background."""

    def __init__(
        self,
        store: RecordSink,
        metrics: UsageMetrics,
        *,
        queue_max: int = 10_000,
        batch_max: int = 200,
        flush_interval_s: float = 0.5,
        retry_base_s: float = 0.2,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self._queue: asyncio.Queue[RequestRecord] = asyncio.Queue(maxsize=queue_max)
        self._batch_max = batch_max
        self._flush_interval_s = flush_interval_s
        self._retry_base_s = retry_base_s
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        metrics.track_queue(self._queue.qsize)

    @classmethod
    def from_config(cls, config: LogStoreConfig, base_dir: Path, metrics: UsageMetrics) -> UsageRecorder:
        """The recorder gateway.yaml's `log:` section describes; a relative SQLite path is under *base_dir*."""
        return cls(
            UsageStore.from_config(config, base_dir),
            metrics,
            queue_max=config.queue_max,
            batch_max=config.batch_max,
            flush_interval_s=config.flush_interval_s,
        )

    @property
    def pending(self) -> int:
        """Records queued and not yet handed to the store."""
        return self._queue.qsize()

    def record(self, rec: RequestRecord) -> None:
        """Queue *rec* for writing. Call from the event loop thread."""
        try:
            self.metrics.observe(rec)
        except Exception:
            # Losing a metric sample must never fail the request it describes.
            log.exception("usage metrics: could not observe request %s", rec.request_id)
        try:
            self._queue.put_nowait(rec)
        except asyncio.QueueFull:
            self.metrics.dropped.labels("queue_full").inc()

    async def start(self) -> None:
        """Bring the store's schema up to date, then start the background writer."""
        await asyncio.to_thread(self.store.migrate)
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def aclose(self) -> None:
        """Write everything queued (records arriving meanwhile included), stop the writer, close the store."""
        self._closing.set()
        if self._task is not None:
            await self._task
            self._task = None
        await asyncio.to_thread(self.store.close)

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            if not batch:
                return
            await self._write(batch)

    async def _collect(self) -> list[RequestRecord]:
        """Up to batch_max records, waiting at most flush_interval after the first; [] once closed and drained."""
        first = await self._next(timeout=None)
        if first is None:
            return []
        batch = [first]
        deadline = asyncio.get_running_loop().time() + self._flush_interval_s
        while len(batch) < self._batch_max:
            remaining = deadline - asyncio.get_running_loop().time()
            rec = self._take_nowait() if remaining <= 0 else await self._next(timeout=remaining)
            if rec is None:
                break
            batch.append(rec)
        return batch

    def _take_nowait(self) -> RequestRecord | None:
        return None if self._queue.empty() else self._queue.get_nowait()

    async def _next(self, timeout: float | None) -> RequestRecord | None:
        """The next record; None on timeout, or when closing and nothing is left."""
        rec = self._take_nowait()
        if rec is not None or self._closing.is_set():
            return rec
        getter = asyncio.ensure_future(self._queue.get())
        closer = asyncio.ensure_future(self._closing.wait())
        done, _ = await asyncio.wait({getter, closer}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        closer.cancel()
        if getter in done:
            return getter.result()
        # A cancelled Queue.get leaves its item in the queue, so nothing is lost here.
        getter.cancel()
        return self._take_nowait()

    async def _write(self, batch: list[RequestRecord]) -> None:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await asyncio.to_thread(self.store.insert_many, batch)
            except Exception:
                # Any driver error (lost connection, locked file, full disk) is retried, then counted.
                log.warning("usage log: writing %d records failed (attempt %d)", len(batch), attempt, exc_info=True)
                if attempt < WRITE_ATTEMPTS:
                    await asyncio.sleep(self._retry_base_s * 2 ** (attempt - 1))
            else:
                self.metrics.written.inc(len(batch))
                return
        log.error("usage log: dropped %d records after %d attempts", len(batch), WRITE_ATTEMPTS)
        self.metrics.dropped.labels("write_error").inc(len(batch))


class NullRecorder:
    """The recorder when logging is off (`log.enabled: false`) and in tests that do not look at logs.

    Metrics are still counted, so /metrics works; nothing is stored, and `store` is None.
    """

    store: UsageStore | None = None

    def __init__(self, metrics: UsageMetrics | None = None) -> None:
        self.metrics = metrics or UsageMetrics()

    @property
    def pending(self) -> int:
        return 0

    def record(self, rec: RequestRecord) -> None:
        try:
            self.metrics.observe(rec)
        except Exception:
            log.exception("usage metrics: could not observe request %s", rec.request_id)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def recorder_for(config: LogStoreConfig, base_dir: Path, metrics: UsageMetrics) -> UsageRecorder | NullRecorder:
    """The recorder for gateway.yaml's `log:` section: a real one, or a NullRecorder when disabled."""
    if not config.enabled:
        return NullRecorder(metrics)
    return UsageRecorder.from_config(config, base_dir, metrics)
