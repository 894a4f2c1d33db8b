"""The log store on SQLite and PostgreSQL: round trip, queries, prune, numbered migrations."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from gateway.config.gateway_sections import LogStoreConfig
from gateway.db import engine_url
from gateway.usage.record import Latency, RequestRecord
from gateway.usage.schema import MIGRATIONS
from gateway.usage.store import UsageStore
from tests.gateway.usage.conftest import make_record


def full_record() -> RequestRecord:
    return RequestRecord(
        ts=1_700_000_123.456,
        request_id="req-1",
        route="intent",
        route_version="abc123",
        target="small",
        model="openai/smollm2",
        decision="retrieval",
        reason="neighbours agree (0.93, 5/5)",
        cache="semantic-hit;score=0.95",
        retrieved_ids=["ex:1", "ex:2", "doc:9#3"],
        tokens_in=123,
        tokens_out=7,
        cost_usd=0.000123,
        large_cost_usd=0.0042,
        latency=Latency(embed_ms=1.5, cache_ms=0.25, retrieve_ms=2.0, upstream_ttfb_ms=30.0,
                        upstream_ms=80.5, total_ms=90.125),
        status=200,
        error_type="",
        key_id="key-7",
        stream=True,
        input_text="my card hasn't arrived \u2014 où est-elle?",
        output_text="card_arrival",
    )


def test_round_trip_keeps_every_field(store: UsageStore) -> None:
    rec = full_record()
    assert store.insert_many([rec]) == 1
    [logged] = store.records()
    assert logged.record == rec
    assert logged.id > 0


def test_queries_filter_by_time_route_and_id(store: UsageStore) -> None:
    records = [make_record(100.0 + i, route="a" if i % 2 else "b") for i in range(10)]
    store.insert_many(records)
    assert [lg.record.ts for lg in store.records(since=103, until=106)] == [103.0, 104.0, 105.0]
    assert {lg.record.route for lg in store.records(route="a")} == {"a"}
    assert store.count(route="a") == 5 and store.count(since=108) == 2
    newest = store.records(limit=3, newest_first=True)
    assert [lg.record.ts for lg in newest] == [109.0, 108.0, 107.0]
    after = store.records(after_id=newest[1].id)
    assert [lg.record.ts for lg in after] == [109.0]


def test_insert_many_is_one_transaction(store: UsageStore) -> None:
    good = make_record(1.0)
    bad = make_record(2.0, route=None)
    with pytest.raises(SQLAlchemyError):
        store.insert_many([good, bad])
    assert store.count() == 0


def test_long_strings_are_clipped_not_refused(store: UsageStore) -> None:
    store.insert_many([make_record(1.0, error_type="x" * 500, key_id="k\x00" * 100)])
    [logged] = store.records()
    assert logged.record.error_type == "x" * 64
    assert logged.record.key_id == "k" * 64


def test_prune_deletes_only_older_records(store: UsageStore) -> None:
    store.insert_many([make_record(float(ts)) for ts in (10, 20, 30, 40)])
    assert store.prune(older_than=30) == 2
    assert [lg.record.ts for lg in store.records()] == [30.0, 40.0]


def m900_add_note(conn: Connection) -> None:
    """A later migration, as a release would add one."""
    conn.execute(text("ALTER TABLE request_log ADD COLUMN note VARCHAR(32) DEFAULT '' NOT NULL"))


def m901_broken(conn: Connection) -> None:
    Table("half_done", MetaData(), Column("x", Integer)).create(conn)
    raise RuntimeError("migration 3 fails half way")


def test_migrations_apply_once_and_in_order(store_url: str) -> None:
    current = len(MIGRATIONS)
    first = UsageStore(store_url)
    assert first.version() == 0
    assert first.migrate() == current and first.migrate() == current
    first.insert_many([make_record(1.0)])
    first.close()

    upgraded = UsageStore(store_url, migrations=(*MIGRATIONS, m900_add_note))
    assert upgraded.migrate() == current + 1
    assert upgraded.version() == current + 1
    columns = {c["name"] for c in inspect(upgraded._engine).get_columns("request_log")}
    assert "note" in columns
    assert upgraded.count() == 1, "an upgrade keeps the stored records"
    upgraded.close()


def test_a_failing_migration_leaves_nothing_behind(store_url: str) -> None:
    store = UsageStore(store_url, migrations=(*MIGRATIONS, m900_add_note, m901_broken))
    with pytest.raises(RuntimeError, match="half way"):
        store.migrate()
    assert store.version() == 0
    assert not inspect(store._engine).has_table("half_done")
    assert not inspect(store._engine).has_table("request_log")
    store.close()


def test_replicas_starting_together_migrate_once(store_url: str) -> None:
    stores = [UsageStore(store_url) for _ in range(4)]
    errors: list[BaseException] = []

    def migrate(store: UsageStore) -> None:
        try:
            store.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(s.version() == len(MIGRATIONS) for s in stores)
    for store in stores:
        store.close()


def test_text_columns_migration_upgrades_a_version_1_store(store_url: str) -> None:
    old = UsageStore(store_url, migrations=MIGRATIONS[:1])
    assert old.migrate() == 1
    with old._engine.begin() as conn:
        conn.execute(text("INSERT INTO request_log (ts, request_id, route, route_version, target, model, decision, "
                          "reason, cache, retrieved_ids, tokens_in, tokens_out, cost_usd, large_cost_usd, embed_ms, "
                          "cache_ms, retrieve_ms, upstream_ttfb_ms, upstream_ms, total_ms, status, error_type, "
                          "key_id, stream) VALUES (5, 'old', 'intent', '', 'large', '', '', '', 'miss', '[]', 0, 0, "
                          "0, 0, 0, 0, 0, 0, 0, 0, 200, '', '', false)"))
    old.close()

    store = UsageStore(store_url)
    assert store.migrate() == len(MIGRATIONS) and store.version() == len(MIGRATIONS)
    columns = {c["name"] for c in inspect(store._engine).get_columns("request_log")}
    assert {"input_text", "output_text"} <= columns
    store.insert_many([make_record(6.0, route="intent", input_text="where is my card", output_text="card_arrival")])
    earlier, later = (lg.record for lg in store.records(route="intent"))
    assert (earlier.request_id, earlier.input_text, earlier.output_text) == ("old", "", "")
    assert (later.input_text, later.output_text) == ("where is my card", "card_arrival")
    store.close()


def test_urls_pick_psycopg_and_anchor_relative_sqlite(tmp_path: Path) -> None:
    assert engine_url("postgresql://u:p@db:5432/logs").startswith("postgresql+psycopg://u:p@db:5432/logs")
    assert engine_url("postgresql+psycopg://db/logs") == "postgresql+psycopg://db/logs"
    assert engine_url("sqlite:///logs/ragway.db", tmp_path) == f"sqlite:///{tmp_path}/logs/ragway.db"
    assert (tmp_path / "logs").is_dir()
    store = UsageStore.from_config(LogStoreConfig(url="sqlite:///r.db"), tmp_path)
    store.migrate()
    store.close()
    assert (tmp_path / "r.db").exists()


def test_sqlite_store_runs_in_wal_mode(tmp_path: Path) -> None:
    store = UsageStore(f"sqlite:///{tmp_path / 'w.db'}")
    store.migrate()
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()
