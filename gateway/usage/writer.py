"""Write request records off the request path, and never lose one while the store is down.

    recorder = UsageRecorder(store, metrics, spool=Spool(path, max_bytes=...))
    await recorder.start()          # in the app lifespan; a store that is down is not an error
    recorder.record(rec)            # per request, from the event loop: never blocks, never raises
    await recorder.aclose()         # on shutdown: everything queued goes to the store or the spool

One background task drains a bounded queue in batches. A batch the store refuses goes to the
local spool (fsync'd), and so does every batch after it until the spool has been replayed, so
records reach the store in the order they were made. The store is tried again every
`retry_interval_s`; a replayed row whose record_id is already stored is skipped, so a batch
written twice (a commit whose answer was lost, two workers replaying one spool) counts once.
Records are dropped only when the queue is full or the spool is at its size limit, and counted
(`ragway_log_dropped_records{reason}`) with a log line that says how many and why.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol

from gateway.config.gateway_sections import LogStoreConfig
from gateway.usage.metrics import UsageMetrics
from gateway.usage.record import RequestRecord
from gateway.usage.spool import Spool
from gateway.usage.store import UsageStore, to_row

log = logging.getLogger(__name__)

# Shutdown replays what the spool holds for at most this long; the rest waits for the next start.
CLOSE_REPLAY_S = 10.0


class RecordSink(Protocol):
    """What the recorder needs from a store; `UsageStore` is the real one."""

    def migrate(self) -> int: ...

    def insert_many(self, records: Sequence[RequestRecord]) -> int: ...

    def insert_rows(self, rows: Sequence[dict[str, Any]]) -> int: ...

    def close(self) -> None: ...


class UsageRecorder:
    """Counts every record in the metrics at once and writes it to the store (or the spool) in the background."""

    def __init__(
        self,
        store: RecordSink,
        metrics: UsageMetrics,
        *,
        spool: Spool | None = None,
        queue_max: int = 10_000,
        batch_max: int = 200,
        flush_interval_s: float = 0.5,
        retry_interval_s: float = 1.0,
        replay_batch: int = 500,
    ) -> None:
        self.store = store
        self.metrics = metrics
        # without a file the spool lives in memory: it rides out an outage, not a restart
        self.spool = spool or Spool(Path(":memory:"), max_bytes=64 * 2**20)
        self._queue: asyncio.Queue[RequestRecord] = asyncio.Queue(maxsize=queue_max)
        self._batch_max = batch_max
        self._flush_interval_s = flush_interval_s
        self._retry_interval_s = retry_interval_s
        self._replay_batch = replay_batch
        self._closing = asyncio.Event()
        # set when the writer should stop lingering for more records: a batch is full, or closing
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._migrated = False
        self._store_up = False
        self._next_try = 0.0
        self._backlog = 0
        metrics.track_queue(self._queue.qsize)
        metrics.track_spool(lambda: self._backlog, lambda: self._store_up)

    @classmethod
    def from_config(cls, config: LogStoreConfig, base_dir: Path, metrics: UsageMetrics) -> UsageRecorder:
        """The recorder gateway.yaml's `log:` section describes; relative paths are under *base_dir*."""
        spool_path = Path(config.spool_path)
        return cls(
            UsageStore.from_config(config, base_dir),
            metrics,
            spool=Spool(spool_path if spool_path.is_absolute() else base_dir / spool_path,
                        max_bytes=int(config.spool_max_mb * 2**20)),
            queue_max=config.queue_max,
            batch_max=config.batch_max,
            flush_interval_s=config.flush_interval_s,
            retry_interval_s=config.retry_interval_s,
        )

    @property
    def pending(self) -> int:
        """Records queued and not yet handed to the store or the spool."""
        return self._queue.qsize()

    def health(self) -> dict[str, Any]:
        """For /readyz: `ok`, `replaying` (store back, spool draining) or `degraded` (store unreachable)."""
        status = "ok" if self._store_up and not self._backlog else "replaying" if self._store_up else "degraded"
        return {"status": status, "store_up": self._store_up, "spooled": self._backlog, "queued": self.pending}

    def record(self, rec: RequestRecord) -> None:
        """Queue *rec* for writing. Call from the event loop thread."""
        try:
            self.metrics.observe(rec)
        except Exception:
            # Losing a metric sample must never fail the request it describes.
            log.exception("usage metrics: could not observe request %s", rec.request_id)
        try:
            self._queue.put_nowait(rec)
            if self._batch_full():
                self._wake.set()
        except asyncio.QueueFull:
            self.metrics.dropped.labels("queue_full").inc()
            log.error("usage log: dropped record %s: the write queue is full (log.queue_max)", rec.request_id)

    async def start(self) -> None:
        """Bring the store's schema up to date if it answers, then start the background writer."""
        self._backlog = await asyncio.to_thread(self.spool.depth)
        await self._attempt(None)
        if not self._store_up:
            log.warning("usage log: the store is unreachable at start; records go to the spool %s",
                        self.spool.path)
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def aclose(self) -> None:
        """Write everything queued (records arriving meanwhile included), stop the writer, close the store."""
        self._closing.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await asyncio.to_thread(self.store.close)
        await asyncio.to_thread(self.spool.close)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            if batch:
                await self._write(batch)
            elif self._closing.is_set():
                break
            await self._replay_if_due()
        deadline = loop.time() + CLOSE_REPLAY_S
        while self._backlog and self._store_up and loop.time() < deadline:
            await self._replay_if_due()
        if self._backlog:
            log.warning("usage log: %d records stay in the spool %s until the next start",
                        self._backlog, self.spool.path)

    def _idle_timeout(self) -> float | None:
        """How long to wait for a record before the spool wants attention (None: nothing to replay)."""
        if not self._backlog:
            return None
        if self._store_up:
            return 0.0
        return max(0.0, self._next_try - asyncio.get_running_loop().time())

    async def _collect(self) -> list[RequestRecord]:
        """Up to batch_max records, waiting at most flush_interval after the first; [] on idle or when closed."""
        first = await self._next(timeout=self._idle_timeout())
        if first is None:
            return []
        # while a backlog drains, take what is queued now rather than wait for a fuller batch
        if not self._backlog:
            await self._linger()
        batch = [first]
        while len(batch) < self._batch_max and (rec := self._take_nowait()) is not None:
            batch.append(rec)
        return batch

    async def _linger(self) -> None:
        """Wait flush_interval for company; `record` and `aclose` end the wait early (a full batch, closing).

        One wait per batch: waiting for each record with its own tasks cost the event loop more than
        the rest of the log's work on it (docs/benchmarks.md, "Fixes from the profiles").
        """
        if self._batch_full() or self._closing.is_set():
            return
        self._wake.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._flush_interval_s)

    def _batch_full(self) -> bool:
        """True when the queue holds the rest of a batch (its first record is already taken)."""
        return self._queue.qsize() + 1 >= self._batch_max

    def _take_nowait(self) -> RequestRecord | None:
        return None if self._queue.empty() else self._queue.get_nowait()

    async def _next(self, timeout: float | None) -> RequestRecord | None:
        """The next record; None on timeout, or when closing and nothing is left."""
        rec = self._take_nowait()
        if rec is not None or self._closing.is_set() or timeout == 0:
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
        # Nothing may overtake spooled records, and a store known to be down is not asked again yet.
        if not self._backlog and self._store_up and await self._attempt(lambda: self.store.insert_many(batch)):
            self.metrics.written.inc(len(batch))
            return
        await self._spool([to_row(rec) for rec in batch])

    async def _spool(self, rows: list[dict[str, Any]]) -> None:
        try:
            kept = await asyncio.to_thread(self.spool.append, rows)
        except Exception:
            log.exception("usage log: dropped %d records: the spool %s could not be written",
                          len(rows), self.spool.path)
            self.metrics.dropped.labels("spool_error").inc(len(rows))
            return
        self._backlog += kept
        self.metrics.spooled.inc(kept)
        if kept < len(rows):
            log.error("usage log: dropped %d records: the spool %s is at its size limit of %d bytes "
                      "(log.spool_max_mb) while the store is unreachable", len(rows) - kept, self.spool.path,
                      self.spool.max_bytes)
            self.metrics.dropped.labels("spool_full").inc(len(rows) - kept)

    async def _replay_if_due(self) -> None:
        if not self._backlog or (not self._store_up and asyncio.get_running_loop().time() < self._next_try):
            return
        oldest = await asyncio.to_thread(self.spool.oldest, self._replay_batch)
        if not oldest:
            self._backlog = 0  # another worker sharing the spool replayed them
            return
        if not await self._attempt(lambda: self.store.insert_rows([row for _, row in oldest])):
            return
        await asyncio.to_thread(self.spool.remove, oldest[-1][0])
        self._backlog = max(0, self._backlog - len(oldest))
        self.metrics.replayed.inc(len(oldest))
        if not self._backlog:
            log.info("usage log: the spool is replayed; writing to the store again")

    async def _attempt(self, write: Callable[[], object] | None) -> bool:
        """Run *write* in a thread (migrating first if the store was never reached); note up or down."""
        try:
            if not self._migrated:
                await asyncio.to_thread(self.store.migrate)
                self._migrated = True
            if write is not None:
                await asyncio.to_thread(write)
        except Exception as exc:
            # Any driver error (lost connection, locked file, full disk): the spool keeps the records.
            if self._store_up:
                log.warning("usage log: the store failed (%s); records go to the spool %s until it answers",
                            _brief(exc), self.spool.path)
            self._store_up = False
            self._next_try = asyncio.get_running_loop().time() + self._retry_interval_s
            return False
        if not self._store_up and self._migrated and self._backlog:
            log.info("usage log: the store answers again; replaying %d spooled records", self._backlog)
        self._store_up = True
        return True


def _brief(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


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

    def health(self) -> dict[str, Any]:
        return {"status": "off"}

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
