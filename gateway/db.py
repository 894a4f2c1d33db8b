"""One way to open either of ragway's databases (the request log, the eval database).

SQLite on one machine, PostgreSQL (psycopg 3) shared by replicas. Each store brings its own
numbered migrations (gateway.migrations) and applies them with `migrate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from gateway.migrations import MigrationPlan


def engine_url(url: str, base_dir: Path | None = None) -> str:
    """The SQLAlchemy URL for a configured one: psycopg 3 for PostgreSQL, relative SQLite paths under *base_dir*."""
    parsed = _with_driver(make_url(url))
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        path = Path(database)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    return parsed.render_as_string(hide_password=False)


def open_engine(url: str) -> Engine:
    """An engine for *url*: pre-pinged connections on a server; WAL, a busy timeout and atomic DDL on SQLite.

    On SQLite a connection opts into taking the write lock up front with
    `execution_options(sqlite_begin="IMMEDIATE")`, so two writers queue instead of deadlocking.
    """
    parsed = _with_driver(make_url(url))
    if parsed.get_backend_name() != "sqlite":
        # a database that went away must fail a call in seconds (the log's batch then goes to its spool), not hang
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def migrate(engine: Engine, plan: MigrationPlan) -> int:
    """Apply every migration of *plan* not yet applied, in one transaction; return the schema version."""
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        return plan.apply(conn)


def schema_version(engine: Engine, plan: MigrationPlan) -> int:
    """The highest applied migration of *plan*, 0 for an empty database."""
    with engine.connect() as conn:
        return plan.current(conn)


def _with_driver(url: URL) -> URL:
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own implicit transactions skip DDL; hand BEGIN to SQLAlchemy so migrations are atomic.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")
