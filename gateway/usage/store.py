"""The request log store: SQLite (WAL) on one machine, PostgreSQL shared by replicas, one code path.

    store = UsageStore("sqlite:///ragway-logs.db")   # or postgresql://user@host/db
    store.migrate()
    store.insert_many(records)
    store.records(since=time.time() - 3600, route="chat")

Every method is blocking; the recorder calls them from a worker thread.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, String, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.config.gateway_sections import LogStoreConfig
from gateway.db import Migration, engine_url, migrate, open_engine, schema_version
from gateway.usage.aggregate import GroupTotals, group_totals, time_window
from gateway.usage.record import Latency, RequestRecord
from gateway.usage.schema import MIGRATIONS, SCHEMA, request_log

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(RequestRecord) if f.name not in ("latency", "retrieved_ids"))
_LATENCY_FIELDS = tuple(f.name for f in dataclasses.fields(Latency))
# Text columns have no length: they are only cleaned of NUL, which PostgreSQL refuses.
_STRING_LIMITS = tuple((c.name, c.type.length or 2**62) for c in request_log.columns if isinstance(c.type, String))


@dataclass(frozen=True, slots=True)
class LoggedRecord:
    """A stored record with its row id (ids grow with insertion, so `tail` can follow them)."""

    id: int
    record: RequestRecord


class UsageStore:
    """Insert, query and prune request records; the schema is kept current by numbered migrations."""

    def __init__(self, url: str, *, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.url = engine_url(url)
        self._engine = open_engine(self.url)
        # SQLite writers take the write lock up front, so two writers queue instead of deadlocking.
        self._writer = self._engine.execution_options(sqlite_begin="IMMEDIATE")
        self._schema = dataclasses.replace(SCHEMA, migrations=tuple(migrations))
        self._insert = _InsertStatement(self._engine)

    @classmethod
    def from_config(cls, config: LogStoreConfig, base_dir: Path) -> UsageStore:
        """The store gateway.yaml names; a relative SQLite path is taken relative to *base_dir*."""
        return cls(engine_url(config.url, base_dir))

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def migrate(self) -> int:
        """Apply every migration not yet applied, in order, in one transaction; return the schema version."""
        return migrate(self._engine, self._schema)

    def version(self) -> int:
        """The highest applied migration, 0 for an empty database."""
        return schema_version(self._engine, self._schema)

    def insert_many(self, records: Sequence[RequestRecord]) -> int:
        """Write *records* in one transaction; all or none are stored, and a record_id already stored is skipped."""
        return self.insert_rows([to_row(rec) for rec in records])

    def insert_rows(self, rows: Sequence[dict[str, Any]]) -> int:
        """Like insert_many for rows made by `to_row` (the spool keeps those); missing columns take defaults."""
        if not rows:
            return 0
        with self._writer.begin() as conn:
            self._insert.run(conn, [{**_ROW_DEFAULTS, **row} for row in rows])
        return len(rows)

    def records(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        route: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[LoggedRecord]:
        """Records with since <= ts < until (seconds since the epoch), optionally for one route."""
        return list(self.iter_records(since=since, until=until, route=route, after_id=after_id,
                                      limit=limit, newest_first=newest_first))

    def iter_records(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        route: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[LoggedRecord]:
        """Like `records`, streamed in chunks so an export of millions of rows stays small in memory."""
        query = _window(select(request_log), since, until, route, after_id)
        query = query.order_by(request_log.c.id.desc() if newest_first else request_log.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query).mappings():
                yield from_row(row)

    def group_totals(
        self, since: float | None, until: float | None, keys: Sequence[str], bucket_s: float | None = None
    ) -> list[GroupTotals]:
        """Sums and latency percentiles per group (and time bucket), computed by the database."""
        with self._engine.connect() as conn:
            return group_totals(conn, since, until, keys, bucket_s)

    def count(self, *, since: float | None = None, until: float | None = None, route: str | None = None) -> int:
        query = _window(select(func.count()).select_from(request_log), since, until, route, None)
        with self._engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    def totals(self, column: str, *, since: float) -> dict[str, tuple[int, int, float]]:
        """(requests, tokens, USD) per value of *column* (key_id or route) since *since*; refusals left out."""
        c = request_log.c
        query = (select(c[column], func.count(), func.coalesce(func.sum(c.tokens_in + c.tokens_out), 0),
                        func.coalesce(func.sum(c.cost_usd), 0.0))
                 .where(c.ts >= since, c.decision != "refused").group_by(c[column]))
        with self._engine.connect() as conn:
            return {str(name): (int(n), int(tokens), float(usd)) for name, n, tokens, usd in conn.execute(query)}

    def prune(self, older_than: float) -> int:
        """Delete records with ts before *older_than*; return how many went."""
        with self._writer.begin() as conn:
            return conn.execute(delete(request_log).where(request_log.c.ts < older_than)).rowcount

    def close(self) -> None:
        self._engine.dispose()


class _InsertStatement:
    """The log's INSERT compiled once for the engine's dialect and run through the driver's executemany.

    SQLAlchemy compiling parameters per row was a third of the writer thread's time at 2,000
    requests/s (and the writer shares the GIL with the event loop).
    """

    def __init__(self, engine: Engine) -> None:
        names = [c.name for c in request_log.columns if c.name != "id"]
        dialect_insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        # a record_id already stored is skipped: what makes a replayed or retried batch harmless
        statement = dialect_insert(request_log).values({n: bindparam(n) for n in names})
        compiled = statement.on_conflict_do_nothing(index_elements=["record_id"]).compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if self.order is None:
            conn.exec_driver_sql(self.sql, rows)
        else:
            conn.exec_driver_sql(self.sql, [tuple(row[n] for n in self.order) for row in rows])


def to_row(rec: RequestRecord) -> dict[str, Any]:
    """The column values for *rec*; over-long strings are clipped to their column so a row never fails."""
    row: dict[str, Any] = {name: getattr(rec, name) for name in _RECORD_FIELDS}
    row.update({name: getattr(rec.latency, name) for name in _LATENCY_FIELDS})
    row["retrieved_ids"] = json.dumps(list(rec.retrieved_ids))
    for name, length in _STRING_LIMITS:
        value = row.get(name)
        if isinstance(value, str) and (len(value) > length or "\x00" in value):
            row[name] = value.replace("\x00", "")[:length]
    return row


def from_row(row: Any) -> LoggedRecord:
    fields: dict[str, Any] = {name: row[name] for name in _RECORD_FIELDS}
    fields["record_id"] = fields["record_id"] or ""
    latency = Latency(**{name: row[name] for name in _LATENCY_FIELDS})
    rec = RequestRecord(**fields, latency=latency, retrieved_ids=json.loads(row["retrieved_ids"]))
    return LoggedRecord(id=int(row["id"]), record=rec)


_ROW_DEFAULTS = {**to_row(RequestRecord(ts=0.0, request_id="", route="")), "record_id": None}


def _window(
    query: Select[Any], since: float | None, until: float | None, route: str | None, after_id: int | None
) -> Select[Any]:
    c = request_log.c
    extra = [cond for cond in (c.route == route if route is not None else None,
                               c.id > after_id if after_id is not None else None) if cond is not None]
    return query.where(*time_window(since, until), *extra)
