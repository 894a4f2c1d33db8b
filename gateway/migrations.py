"""Numbered schema migrations, shared by the request log and the eval database.

Each store lists its migrations in order; version N is the Nth. Applied versions live in
a table of the store's own (so two stores can share one PostgreSQL database), and one
transaction applies whatever is missing. On PostgreSQL an advisory lock per store makes
replicas that start together wait for the first one instead of racing it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Float, Integer, MetaData, String, Table, func, insert, select

Migration = Callable[[Connection], None]


def versions_table(name: str, metadata: MetaData) -> Table:
    """The table recording which migrations a store has applied."""
    return Table(
        name,
        metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("name", String(128), nullable=False),
        Column("applied_at", Float, nullable=False),
    )


@dataclass(frozen=True)
class MigrationPlan:
    """A store's ordered migrations, its versions table and its PostgreSQL advisory lock key."""

    migrations: Sequence[Migration]
    versions: Table
    lock_key: int

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
