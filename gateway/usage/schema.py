"""The request log's tables and its numbered migrations.

`request_log` below describes the current schema and is what queries use. Each
migration carries its own DDL, so an old store upgrades step by step even after
the current table has moved on. Applied versions live in `schema_migrations` (gateway/db.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from gateway.db import Migration, Schema

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for a long-lived log.
RowId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()


def _request_log_v1(meta: MetaData, *later: Column[Any] | Index) -> Table:
    """The table as migration 1 created it, plus *later* columns and indexes (each migration adds its own)."""
    return Table(
        "request_log",
        meta,
        Column("id", RowId, primary_key=True, autoincrement=True),
        Column("ts", Float, nullable=False),
        Column("request_id", String(64), nullable=False),
        Column("route", String(128), nullable=False),
        Column("route_version", String(64), nullable=False, default=""),
        Column("target", String(128), nullable=False, default=""),
        Column("model", String(256), nullable=False, default=""),
        Column("decision", String(64), nullable=False, default=""),
        Column("reason", Text, nullable=False, default=""),
        Column("cache", String(32), nullable=False, default="bypass"),
        Column("retrieved_ids", Text, nullable=False, default="[]"),
        Column("tokens_in", Integer, nullable=False, default=0),
        Column("tokens_out", Integer, nullable=False, default=0),
        Column("cost_usd", Float, nullable=False, default=0.0),
        Column("large_cost_usd", Float, nullable=False, default=0.0),
        Column("embed_ms", Float, nullable=False, default=0.0),
        Column("cache_ms", Float, nullable=False, default=0.0),
        Column("retrieve_ms", Float, nullable=False, default=0.0),
        Column("upstream_ttfb_ms", Float, nullable=False, default=0.0),
        Column("upstream_ms", Float, nullable=False, default=0.0),
        Column("total_ms", Float, nullable=False, default=0.0),
        Column("status", Integer, nullable=False, default=200),
        Column("error_type", String(64), nullable=False, default=""),
        Column("key_id", String(64), nullable=False, default=""),
        Column("stream", Boolean, nullable=False, default=False),
        *later,
        Index("ix_request_log_ts", "ts"),
        Index("ix_request_log_route_ts", "route", "ts"),
    )


def _text_columns() -> list[Column[Any]]:
    return [Column("input_text", Text, nullable=False, default=""),
            Column("output_text", Text, nullable=False, default="")]


def _record_id_column() -> Column[Any]:
    return Column("record_id", String(32), nullable=True)


request_log = _request_log_v1(metadata, *_text_columns(), _record_id_column(),
                              Index("ux_request_log_record_id", "record_id", unique=True))


def m001_request_log(conn: Connection) -> None:
    """The per-request table, indexed for time-window and per-route queries."""
    _request_log_v1(MetaData()).create(conn)


def m002_request_texts(conn: Connection) -> None:
    """The request and answer texts of routes with `log_text: true` (empty for every other row)."""
    for name in ("input_text", "output_text"):
        # The same DDL on SQLite and PostgreSQL; the default fills the rows already stored.
        conn.execute(text(f"ALTER TABLE request_log ADD COLUMN {name} TEXT DEFAULT '' NOT NULL"))


def m003_record_ids(conn: Connection) -> None:
    """A unique id per record, so replaying the spool or retrying a batch never writes a row twice.

    Rows written before it keep NULL, which a unique index lets repeat on SQLite and PostgreSQL alike.
    """
    conn.execute(text("ALTER TABLE request_log ADD COLUMN record_id VARCHAR(32)"))
    conn.execute(text("CREATE UNIQUE INDEX ux_request_log_record_id ON request_log (record_id)"))


MIGRATIONS: Sequence[Migration] = (m001_request_log, m002_request_texts, m003_record_ids)
# Any lock key works; every ragway process must use the same one (it differs from the eval database's).
SCHEMA = Schema("schema_migrations", MIGRATIONS, lock_key=0x7261677761)
