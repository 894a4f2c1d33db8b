"""The books survive PostgreSQL outages: under load, at shutdown, and at start.

Each test runs real gateway processes against a PostgreSQL cluster of the test session's own
(tests/private_servers.py), which they stop and start; the shared server on 5432 is never touched.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from gateway.usage.spool import Spool
from tests.private_servers import PrivatePostgres
from tests.servers import free_port, start_gateway, stop, wait_for, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]  # gateways start slowly on a busy machine

ROUTE = {
    "task": "generation",
    "targets": {"large": {"model": "priced"}},
    "policy": {"kind": "fixed", "target": "large"},
    "cache": {"enabled": False},
}


@pytest.fixture
def log_url(private_pg: PrivatePostgres) -> Iterator[str]:
    """A fresh schema on the private cluster (which each test leaves running)."""
    if not private_pg.running():
        private_pg.start()
    schema = f"outage_{uuid.uuid4().hex[:10]}"
    admin = create_engine(private_pg.url.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    yield f"{private_pg.url}?options=-csearch_path%3D{schema}"
    if not private_pg.running():
        private_pg.start()


def gateway_config(root: Path, upstream: str, log_url: str) -> Path:
    gateway = {
        "auth": {"open": True},
        "models": {"priced": {"model": "openai/stub", "api_base": f"{upstream}/v1", "retries": 0,
                              "provider": "openai_compatible",
                              "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}},
        "log": {"url": log_url, "flush_interval_s": 0.2, "retry_interval_s": 0.5,
                "spool_path": str(root.parent / "spool.db")},
    }
    return write_config(root, gateway, {"chat": ROUTE})


def stored(log_url: str) -> tuple[int, int, set[str]]:
    """(rows, distinct record ids, request ids) in the log."""
    engine = create_engine(log_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows, distinct = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT record_id) FROM request_log")).one()
        ids = set(conn.scalars(text("SELECT request_id FROM request_log")))
    engine.dispose()
    return int(rows), int(distinct), ids


async def load(port: int, seconds: float, concurrency: int) -> tuple[set[str], int]:
    """Distinct prompts for *seconds*; the request ids answered 200, and how many requests failed."""
    answered: set[str] = set()
    failed = 0
    stop_at = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient, n: int) -> None:
        nonlocal failed
        i = 0
        while time.monotonic() < stop_at:
            body = {"model": "chat", "messages": [{"role": "user", "content": f"worker {n} message {i}"}]}
            i += 1
            response = await client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body)
            if response.status_code == 200:
                answered.add(response.headers["x-request-id"])
            else:
                failed += 1

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(worker(client, n) for n in range(concurrency)))
    return answered, failed


def metric(port: int, name: str) -> float:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_postgres_stopped_under_load_loses_and_duplicates_nothing(
    tmp_path: Path, test_upstream: str, private_pg: PrivatePostgres, log_url: str
) -> None:
    root = gateway_config(tmp_path / "configs", test_upstream, log_url)
    port = free_port()
    process = start_gateway(root, port, log_path=tmp_path / "gateway.log")
    try:
        def outage() -> None:
            time.sleep(7)
            private_pg.stop()
            time.sleep(15)
            private_pg.start()

        outage_thread = threading.Thread(target=outage)
        outage_thread.start()
        answered, failed = asyncio.run(load(port, 30, concurrency=8))
        outage_thread.join()
        assert failed == 0 and len(answered) > 100
        assert wait_for(lambda: stored(log_url)[0] >= len(answered), 120), "the spool was replayed"
        time.sleep(1)  # a duplicate would arrive after the count is reached
        rows, distinct, ids = stored(log_url)
        print(f"\noutage under load: {len(answered)} answered 200, {rows} records, {rows - distinct} duplicates, "
              f"spooled {metric(port, 'ragway_log_spooled_records_total'):.0f}")
        assert rows == distinct == len(answered) and ids == answered
        assert metric(port, "ragway_log_spooled_records_total") > 0, "the outage made the writer spool"
        assert metric(port, "ragway_log_dropped_records_total") == 0
    finally:
        stop(process)


def test_start_with_postgres_down_then_sigterm_then_restart_delivers_every_record(
    tmp_path: Path, test_upstream: str, private_pg: PrivatePostgres, log_url: str
) -> None:
    root = gateway_config(tmp_path / "configs", test_upstream, log_url)
    private_pg.stop()
    port = free_port()
    process = start_gateway(root, port, log_path=tmp_path / "gateway-1.log")
    try:
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200 and ready.json()["log"]["status"] == "degraded"
        answered, failed = asyncio.run(load(port, 3, concurrency=4))
        assert failed == 0 and answered
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) in (0, -signal.SIGTERM)
    finally:
        stop(process)
    spool = Spool(tmp_path / "spool.db", max_bytes=2**30)
    assert spool.depth() == len(answered), "SIGTERM with the store down spooled every record"
    spool.close()

    private_pg.start()
    process = start_gateway(root, port, log_path=tmp_path / "gateway-2.log")
    try:
        assert wait_for(lambda: stored(log_url)[0] >= len(answered), 60)
        rows, distinct, ids = stored(log_url)
        assert rows == distinct == len(answered) and ids == answered
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()
        assert ready["log"] == {"status": "ok", "store_up": True, "spooled": 0, "queued": 0}
    finally:
        stop(process)
