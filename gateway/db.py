"""One way to open and migrate either of ragway's databases (the request log, the eval database).

SQLite on one machine, PostgreSQL (psycopg 3) shared by replicas. Each store declares its `Schema`:
numbered migrations in order (version N is the Nth), applied by `migrate`. Applied versions live in
a table of the store's own (so two stores can share one PostgreSQL database), and one transaction
applies whatever is missing. On PostgreSQL an advisory lock per store makes replicas that start
together wait for the first one instead of racing it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import URL, make_url

Migration = Callable[[Connection], None]

# how long a SQLite connection waits for another's lock before it fails
SQLITE_BUSY_S = 30.0


@dataclass(frozen=True)
class Schema:
    """A store's ordered migrations, the table recording which are applied, and its advisory lock key."""

    versions_table: str
    migrations: Sequence[Migration]
    lock_key: int
    versions: Table = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        versions = Table(
            self.versions_table,
            MetaData(),
            Column("version", Integer, primary_key=True, autoincrement=False),
            Column("name", String(128), nullable=False),
            Column("applied_at", Float, nullable=False),
        )
        object.__setattr__(self, "versions", versions)

    def apply(self, conn: Connection) -> int:
        """Apply every migration not yet applied, in order, inside *conn*'s transaction; return the version."""
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(self.lock_key)))
        self.versions.create(conn, checkfirst=True)
        applied = set(conn.scalars(select(self.versions.c.version)))
        for version, migration in enumerate(self.migrations, start=1):
            if version not in applied:
                migration(conn)
                row = {"version": version, "name": migration.__name__, "applied_at": time.time()}
                conn.execute(insert(self.versions), row)
        return len(self.migrations)

    def current(self, conn: Connection) -> int:
        """The highest applied version, 0 for an empty database."""
        if not conn.dialect.has_table(conn, self.versions.name):
            return 0
        return conn.scalar(select(func.max(self.versions.c.version))) or 0


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
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_S})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def migrate(engine: Engine, schema: Schema) -> int:
    """Apply every migration of *schema* not yet applied, in one transaction; return the schema version."""
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        return schema.apply(conn)


def schema_version(engine: Engine, schema: Schema) -> int:
    """The highest applied migration of *schema*, 0 for an empty database."""
    with engine.connect() as conn:
        return schema.current(conn)


def _with_driver(url: URL) -> URL:
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own implicit transactions skip DDL; hand BEGIN to SQLAlchemy so migrations are atomic.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_S * 1000)}")
    _wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _wal(cursor: Any) -> None:
    """Switch the database to WAL, waiting out a connection that holds its lock meanwhile.

    A new file changes journal mode once, and that change fails at once with "database is locked" while
    another connection holds a lock (SQLite's busy timeout does not cover it): replicas opening a new log
    together hit it (test_replicas_starting_together_migrate_once: 17 of 200 runs failed before this retry).
    """
    deadline = time.monotonic() + SQLITE_BUSY_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")
