"""The eval database: eval history and route promotions, SQLite by default, PostgreSQL when shared.

`eval_runs` and `route_promotions` below describe the current schema and are what queries use.
Each migration carries its own DDL, so an old database upgrades step by step; applied versions
live in `eval_migrations` (its own name, so it can share a PostgreSQL database with the log store).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import Column, Connection, Engine, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import make_url

from gateway import db
from gateway.config.snapshot import ConfigSnapshot
from gateway.db import Migration, Schema

STORE_ENV = "RAGWAY_EVAL_STORE"
DEFAULT_FILE = ".eval-history.db"
metadata = MetaData()


def _eval_runs_v1(meta: MetaData) -> Table:
    return Table(
        "eval_runs",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(64), nullable=False),
        Column("ts", Float, nullable=False),
        Column("route", String(128), nullable=False),
        Column("route_version", String(64), nullable=False),
        Column("variant", String(32), nullable=False),
        Column("dataset", Text, nullable=False),
        Column("dataset_checksum", String(64), nullable=False),
        Column("n_examples", Integer, nullable=False),
        Column("index_versions", Text, nullable=False),
        Column("model_versions", Text, nullable=False),
        Column("metrics", Text, nullable=False),
        Column("target_share", Text, nullable=False),
        Index("ix_eval_runs_route_ts", "route", "ts"),
    )


def _route_promotions_v1(meta: MetaData) -> Table:
    return Table(
        "route_promotions",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("ts", Float, nullable=False),
        Column("route", String(128), nullable=False),
        Column("version", String(64), nullable=False),
        Column("state", String(16), nullable=False),
        Column("reason", Text, nullable=False),
        Index("ix_route_promotions_route_version", "route", "version"),
    )


def _eval_misses_v3(meta: MetaData) -> Table:
    return Table(
        "eval_misses",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(64), nullable=False),
        Column("variant", String(32), nullable=False),
        Column("line", Integer, nullable=False),
        Column("input", Text, nullable=False),
        Column("expected", Text, nullable=False),
        Column("got", Text, nullable=True),
        Column("target", String(128), nullable=False),
        Column("error", Text, nullable=False),
        Index("ix_eval_misses_run_variant", "run_id", "variant"),
    )


eval_runs = _eval_runs_v1(metadata)
# v3: what the flat metrics leave out (per-target slices and costs, escalation, out-of-scope) as JSON
eval_runs.append_column(Column("details", Text, nullable=False, server_default="{}"))
route_promotions = _route_promotions_v1(metadata)
eval_misses = _eval_misses_v3(metadata)


def m001_eval_runs(conn: Connection) -> None:
    """One row per variant per eval run, with what it ran on (versions, dataset checksum)."""
    _eval_runs_v1(MetaData()).create(conn)


def m002_route_promotions(conn: Connection) -> None:
    """Append-only decisions on route versions: promoted, refused or forced, with the reason."""
    _route_promotions_v1(MetaData()).create(conn)


def m003_details_and_misses(conn: Connection) -> None:
    """Per-variant details beside the flat metrics, and every missed gold example, so a bad run can be read."""
    conn.exec_driver_sql("ALTER TABLE eval_runs ADD COLUMN details TEXT NOT NULL DEFAULT '{}'")
    _eval_misses_v3(MetaData()).create(conn)


MIGRATIONS: Sequence[Migration] = (m001_eval_runs, m002_route_promotions, m003_details_and_misses)
# Any lock key works; every ragway process must use the same one (it differs from the request log's).
SCHEMA = Schema("eval_migrations", MIGRATIONS, lock_key=0x7261676576)


def default_store_url(snapshot: ConfigSnapshot) -> str:
    """$RAGWAY_EVAL_STORE; else the log store's PostgreSQL database; else `.eval-history.db` beside the SQLite log."""
    if os.environ.get(STORE_ENV):
        return os.environ[STORE_ENV]
    log = make_url(snapshot.gateway.log.url)
    if log.get_backend_name() == "postgresql":
        return snapshot.gateway.log.url
    log_path = snapshot.resolve(log.database or DEFAULT_FILE)
    return f"sqlite:///{log_path.parent / DEFAULT_FILE}"


def open_engine(url: str) -> Engine:
    """An engine for *url* (see gateway.db) with every migration applied."""
    engine = db.open_engine(url)
    migrate(engine)
    return engine


def migrate(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every migration not yet applied, in order, in one transaction; return the schema version."""
    return db.migrate(engine, replace(SCHEMA, migrations=migrations))
