"""The spool and the replay: a store that comes back gets every spooled record once, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.usage.metrics import UsageMetrics
from gateway.usage.record import RequestRecord
from gateway.usage.spool import Spool
from gateway.usage.store import UsageStore, to_row
from gateway.usage.writer import UsageRecorder
from tests.gateway.usage.conftest import make_record


class SwitchableFakeStore:
    """A fake store that refuses writes while `down` is set, like a database being restarted."""

    def __init__(self) -> None:
        self.down = True
        self.rows: list[dict[str, Any]] = []

    def migrate(self) -> int:
        self._check()
        return 3

    def insert_many(self, records: Sequence[RequestRecord]) -> int:
        return self.insert_rows([to_row(rec) for rec in records])

    def insert_rows(self, rows: Sequence[dict[str, Any]]) -> int:
        self._check()
        seen = {row["record_id"] for row in self.rows}
        self.rows.extend(row for row in rows if row["record_id"] not in seen)
        return len(rows)

    def close(self) -> None:
        return None

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("connection refused")


def sample(metrics: UsageMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_spool_keeps_order_across_reopen_and_stops_at_its_size_limit(tmp_path: Path) -> None:
    rows = [to_row(make_record(float(i))) for i in range(10)]
    one = len(Spool.encode(rows[0]))
    spool = Spool(tmp_path / "spool.db", max_bytes=one * 6 + 10)
    assert spool.append(rows[:4]) == 4
    assert spool.append(rows[4:]) == 2, "only what fits the limit is kept"
    spool.close()
    spool = Spool(tmp_path / "spool.db", max_bytes=one * 6 + 10)
    first = spool.oldest(3)
    assert [row["ts"] for _, row in first] == [0.0, 1.0, 2.0]
    spool.remove(first[-1][0])
    assert [row["ts"] for _, row in spool.oldest(10)] == [3.0, 4.0, 5.0]
    assert spool.depth() == 3
    spool.close()


async def test_records_made_while_the_store_is_down_arrive_once_and_in_order(tmp_path: Path) -> None:
    store, metrics = SwitchableFakeStore(), UsageMetrics()
    recorder = UsageRecorder(store, metrics, spool=Spool(tmp_path / "spool.db", max_bytes=2**24),
                             batch_max=7, flush_interval_s=0.005, retry_interval_s=0.02, replay_batch=5)
    await recorder.start()  # the store is down at start: not an error
    for i in range(40):
        recorder.record(make_record(float(i)))
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.05)
    assert recorder.health() == {"status": "degraded", "store_up": False, "spooled": 40, "queued": 0}
    store.down = False
    for i in range(40, 60):  # records made during the replay queue behind the spool
        recorder.record(make_record(float(i)))
        await asyncio.sleep(0.001)
    await recorder.aclose()
    assert [row["ts"] for row in store.rows] == [float(i) for i in range(60)]
    # The 40 spooled rows are replayed; later ones are spooled too until the backlog drains, then go direct.
    replayed = sample(metrics, "ragway_log_replayed_records_total")
    assert replayed >= 40
    assert replayed + sample(metrics, "ragway_log_written_records_total") == 60
    assert sample(metrics, "ragway_log_dropped_records_total", reason="spool_full") == 0


async def test_a_spool_left_by_a_stopped_gateway_is_replayed_at_the_next_start(store_url: str, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=2**24)
    records = [make_record(float(i)) for i in range(25)]
    spool.append([to_row(rec) for rec in records])
    spool.close()
    store = UsageStore(store_url)
    store.migrate()
    store.insert_many(records[:10])  # a batch whose commit landed although its answer was lost

    recorder = UsageRecorder(UsageStore(store_url), UsageMetrics(),
                             spool=Spool(tmp_path / "spool.db", max_bytes=2**24))
    await recorder.start()
    await recorder.aclose()
    stored = [logged.record for logged in store.records()]
    assert [rec.record_id for rec in stored] == [rec.record_id for rec in records]
    assert Spool(tmp_path / "spool.db", max_bytes=2**24).depth() == 0
    store.close()


async def test_a_full_spool_drops_with_a_reason_and_a_count(tmp_path: Path, caplog) -> None:
    store, metrics = SwitchableFakeStore(), UsageMetrics()
    one = len(Spool.encode(to_row(make_record(0.0))))
    recorder = UsageRecorder(store, metrics, spool=Spool(tmp_path / "spool.db", max_bytes=one * 3 + 5),
                             batch_max=10, flush_interval_s=0.005)
    await recorder.start()
    for i in range(5):
        recorder.record(make_record(float(i)))
    await recorder.aclose()
    assert sample(metrics, "ragway_log_spooled_records_total") == 3
    assert sample(metrics, "ragway_log_dropped_records_total", reason="spool_full") == 2
    assert "dropped 2 records" in caplog.text and "size limit" in caplog.text
