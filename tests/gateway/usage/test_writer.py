"""The background recorder: never blocks or raises on the request path, counts drops, flushes on close."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from gateway.config.gateway_sections import LogStoreConfig
from gateway.usage.metrics import UsageMetrics
from gateway.usage.record import RequestRecord
from gateway.usage.spool import Spool
from gateway.usage.store import UsageStore
from gateway.usage.writer import NullRecorder, UsageRecorder, recorder_for
from tests.gateway.usage.conftest import make_record


class StalledFakeStore:
    """A store whose inserts hang until released, like a database that stopped answering."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[list[RequestRecord]] = []
        self.closed = False

    def migrate(self) -> int:
        return 1

    def insert_many(self, records: Sequence[RequestRecord]) -> int:
        self.entered.set()
        self.release.wait(timeout=30)
        self.batches.append(list(records))
        return len(records)

    def close(self) -> None:
        self.closed = True


class FailingFakeStore(StalledFakeStore):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def insert_many(self, records: Sequence[RequestRecord]) -> int:
        self.attempts += 1
        raise ConnectionError("database is down")


def sample(metrics: UsageMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_stalled_store_never_blocks_record_and_overflow_is_counted() -> None:
    store, metrics = StalledFakeStore(), UsageMetrics()
    recorder = UsageRecorder(store, metrics, queue_max=10, batch_max=1, flush_interval_s=0.01)
    await recorder.start()
    recorder.record(make_record(0.0))
    assert await asyncio.to_thread(store.entered.wait, 10), "the writer took the first record"

    for i in range(100):
        recorder.record(make_record(float(i + 1)))
    await asyncio.sleep(0.05)  # the loop keeps running while the store's thread is stuck

    assert recorder.pending == 10
    assert sample(metrics, "ragway_log_queue_depth") == 10
    assert sample(metrics, "ragway_log_dropped_records_total", reason="queue_full") == 90
    assert sample(metrics, "ragway_requests_total", route="chat", target="large") == 101, "metrics count drops too"

    store.release.set()
    await recorder.aclose()
    assert [rec.ts for batch in store.batches for rec in batch] == [float(i) for i in range(11)]
    assert sample(metrics, "ragway_log_written_records_total") == 11
    assert store.closed


async def test_close_flushes_exactly_what_was_recorded(store_url: str) -> None:
    store = UsageStore(store_url)
    recorder = UsageRecorder(store, UsageMetrics(), queue_max=2000, batch_max=64, flush_interval_s=5.0)
    await recorder.start()
    for wave in range(3):
        for i in range(200):
            recorder.record(make_record(wave * 1000.0 + i))
        await asyncio.sleep(0.01)
    await recorder.aclose()

    reader = UsageStore(store_url)
    assert reader.count() == 600
    assert len({lg.record.request_id for lg in reader.records()}) == 600
    reader.close()


async def test_a_failing_store_spools_every_record_and_drops_none(tmp_path: Path) -> None:
    store, metrics = FailingFakeStore(), UsageMetrics()
    spool = Spool(tmp_path / "spool.db", max_bytes=2**20)
    recorder = UsageRecorder(store, metrics, spool=spool, batch_max=10, flush_interval_s=0.01,
                             retry_interval_s=0.01)
    await recorder.start()
    for i in range(3):
        recorder.record(make_record(float(i)))
    await asyncio.sleep(0.1)
    assert recorder.health()["status"] == "degraded"
    await recorder.aclose()
    assert sample(metrics, "ragway_log_spooled_records_total") == 3
    assert sample(metrics, "ragway_log_dropped_records_total", reason="write_error") == 0
    assert sample(metrics, "ragway_log_written_records_total") == 0
    reopened = Spool(tmp_path / "spool.db", max_bytes=2**20)
    assert [row["ts"] for _, row in reopened.oldest(10)] == [0.0, 1.0, 2.0]
    reopened.close()


async def test_a_bad_record_never_raises_into_the_request() -> None:
    store, metrics = StalledFakeStore(), UsageMetrics()
    store.release.set()
    recorder = UsageRecorder(store, metrics, flush_interval_s=0.01)
    await recorder.start()
    recorder.record(make_record(1.0, cost_usd=-1.0))  # prometheus refuses a negative counter step
    await recorder.aclose()
    assert [rec.ts for batch in store.batches for rec in batch] == [1.0]


async def test_null_recorder_counts_metrics_and_stores_nothing() -> None:
    recorder = NullRecorder()
    await recorder.start()
    recorder.record(make_record(1.0))
    await recorder.aclose()
    assert recorder.store is None and recorder.pending == 0
    assert sample(recorder.metrics, "ragway_requests_total", route="chat", target="large") == 1


def test_recorder_for_follows_the_log_section(tmp_path: Path) -> None:
    metrics = UsageMetrics()
    assert isinstance(recorder_for(LogStoreConfig(enabled=False), tmp_path, metrics), NullRecorder)
    recorder = recorder_for(LogStoreConfig(url="sqlite:///logs.db", queue_max=5), tmp_path, metrics)
    assert isinstance(recorder, UsageRecorder) and isinstance(recorder.store, UsageStore)
    assert recorder.store.url == f"sqlite:///{tmp_path / 'logs.db'}"
    recorder.store.close()
