"""Summary figures computed by the database: counts and sums by GROUP BY, percentiles by window functions.

A summary over a long window must not ship every row to Python: the store groups and sums,
and ranks latencies inside each group with `row_number()` (SQLite 3.25+ and PostgreSQL), so
only the two rows around each percentile's rank leave the database. The percentiles then
interpolate between closest ranks exactly as `summary.percentile` does on samples in hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, case, cast, func, or_, select

from gateway.usage.record import CACHE_HITS
from gateway.usage.schema import request_log

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """One group's sums from the database, and its latencies at each percentile."""

    bucket: float | None
    values: tuple[Any, ...]
    requests: int
    errors: int
    cache_hits: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    large_cost_usd: float
    percentiles: dict[int, float]


def group_totals(
    conn: Connection, start: float | None, end: float | None, keys: Sequence[str], bucket_s: float | None
) -> list[GroupTotals]:
    """Per (bucket, keys) group of records with start <= ts < end: sums and latency percentiles."""
    groups = _grouping(conn, keys, bucket_s)
    where = time_window(start, end)
    c = request_log.c
    sums = (
        select(*groups, func.count(), func.sum(case((c.status >= 400, 1), else_=0)),
               func.sum(case((_is_hit(), 1), else_=0)), func.sum(c.tokens_in), func.sum(c.tokens_out),
               func.sum(c.cost_usd), func.sum(c.large_cost_usd))
        .where(*where).group_by(*groups)
    )
    ranks = _percentile_rows(conn, groups, where)
    width = len(groups)
    out = []
    for row in conn.execute(sums):
        if not row[width]:
            continue  # no GROUP BY columns: an empty window still yields one row of zeros
        group = tuple(row[:width])
        out.append(GroupTotals(
            bucket=float(group[0]) * bucket_s if bucket_s else None,
            values=group[1:] if bucket_s else group,
            requests=int(row[width]), errors=int(row[width + 1] or 0), cache_hits=int(row[width + 2] or 0),
            tokens_in=int(row[width + 3] or 0), tokens_out=int(row[width + 4] or 0),
            cost_usd=float(row[width + 5] or 0.0), large_cost_usd=float(row[width + 6] or 0.0),
            percentiles=_interpolate(ranks.get(group, {}), int(row[width])),
        ))
    return out


def _grouping(conn: Connection, keys: Sequence[str], bucket_s: float | None) -> list[ColumnElement[Any]]:
    c = request_log.c
    columns: list[ColumnElement[Any]] = [c[key] for key in keys]
    if not bucket_s:
        return columns
    ratio = c.ts / bucket_s
    # PostgreSQL rounds a float cast to integer; SQLite truncates and has no floor() in every build.
    index = func.floor(ratio) if conn.dialect.name == "postgresql" else cast(ratio, BigInteger)
    return [cast(index, BigInteger).label("bucket_index"), *columns]


def time_window(start: float | None, end: float | None) -> list[ColumnElement[bool]]:
    """Conditions for start <= ts < end (either bound may be open); the store's queries use them too."""
    c = request_log.c
    return [cond for cond in (c.ts >= start if start is not None else None,
                              c.ts < end if end is not None else None) if cond is not None]


def _is_hit() -> ColumnElement[bool]:
    """`summary.is_cache_hit` in SQL: the part before ';' is a hit kind (`semantic-hit;score=0.93`)."""
    c = request_log.c
    return or_(c.cache.in_(sorted(CACHE_HITS)), *(c.cache.like(f"{kind};%") for kind in sorted(CACHE_HITS)))


def _percentile_rows(
    conn: Connection, groups: list[ColumnElement[Any]], where: list[ColumnElement[bool]]
) -> dict[tuple[Any, ...], dict[int, float]]:
    """Latency at the ranks each percentile interpolates between, per group: {group: {rank: ms}}."""
    c = request_log.c
    ranked = (
        select(*groups, c.total_ms,
               (func.row_number().over(partition_by=groups, order_by=c.total_ms) - 1).label("rank"),
               func.count().over(partition_by=groups).label("n"))
        .where(*where).subquery()
    )
    width = len(groups)
    wanted = []
    for q in PERCENTILES:
        low = (ranked.c.n - 1) * q // 100  # floor division of integers in both databases
        wanted += [ranked.c.rank == low, ranked.c.rank == low + 1]
    query = select(*list(ranked.c)[:width], ranked.c.rank, ranked.c.total_ms).where(or_(*wanted))
    found: dict[tuple[Any, ...], dict[int, float]] = {}
    for row in conn.execute(query):
        found.setdefault(tuple(row[:width]), {})[int(row[width])] = float(row[width + 1])
    return found


def _interpolate(at_rank: dict[int, float], n: int) -> dict[int, float]:
    out = {}
    for q in PERCENTILES:
        if n == 0 or not at_rank:
            out[q] = 0.0
            continue
        position = (n - 1) * q / 100
        low = int(position)
        high = min(low + 1, n - 1)
        out[q] = at_rank[low] + (at_rank[high] - at_rank[low]) * (position - low)
    return out

