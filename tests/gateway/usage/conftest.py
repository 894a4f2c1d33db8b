"""Log stores for the usage tests: every store test runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.usage.record import Latency, RequestRecord
from gateway.usage.store import UsageStore

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty log store URL: a fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'logs.db'}"
        return
    schema = f"ragway_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[UsageStore]:
    store = UsageStore(store_url)
    store.migrate()
    yield store
    store.close()


def make_record(
    ts: float,
    route: str = "chat",
    target: str = "large",
    total_ms: float = 10.0,
    **fields: object,
) -> RequestRecord:
    """A record with the fields a test cares about; the rest default. A `latency` given wins over total_ms."""
    fields.setdefault("latency", Latency(total_ms=total_ms))
    return RequestRecord(
        ts=ts,
        request_id=f"req-{uuid.uuid4().hex[:8]}",
        route=route,
        target=target,
        **fields,  # type: ignore[arg-type]
    )
