"""Per-group figures over a time window: volume, errors, cache hits, latency percentiles, tokens and cost.

Over the store, the database aggregates (`aggregate.py`: GROUP BY and ranked latencies, so a long
window never streams its rows into the gateway); over samples in hand, `summarize_samples` does the
same in Python. Both interpolate percentiles linearly between closest ranks (numpy's default
method), so SQLite, PostgreSQL and samples give identical numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.usage.duration import epoch_since
from gateway.usage.record import Sample, is_cache_hit, is_failure
from gateway.usage.store import UsageStore

GROUP_KEYS = ("route", "target", "model", "cache", "status")
GroupValue = str | int


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One group's figures. `bucket` is the window start (epoch seconds) when bucketed by time."""

    group: dict[str, GroupValue]
    requests: int
    errors: int
    cache_hits: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    large_cost_usd: float
    bucket: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.requests if self.requests else 0.0

    @property
    def savings_usd(self) -> float:
        """What routing saved against sending the same traffic to the route's large model."""
        return self.large_cost_usd - self.cost_usd

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.group,
            **({"bucket": self.bucket} if self.bucket is not None else {}),
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": self.cache_hit_rate,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
            "large_cost_usd": self.large_cost_usd,
            "savings_usd": self.savings_usd,
        }


def parse_group_keys(by: str | Sequence[str]) -> list[str]:
    """`route,target` or ["route", "target"] -> checked keys; ValueError names the allowed ones."""
    keys = [k.strip() for k in (by.split(",") if isinstance(by, str) else by) if k.strip()]
    unknown = [k for k in keys if k not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"cannot group by {', '.join(unknown)}: choose from {', '.join(GROUP_KEYS)}")
    return list(dict.fromkeys(keys))


def summarize(
    store: UsageStore,
    since: timedelta | datetime | float,
    by: Sequence[str],
    *,
    until: datetime | float | None = None,
    bucket_s: float | None = None,
    now: float | None = None,
) -> list[SummaryRow]:
    """Summary rows for records from *since* (a duration back from now, or a moment) until *until*."""
    keys = parse_group_keys(by)
    start = epoch_since(since, time.time() if now is None else now)
    end = None if until is None else epoch_since(until, 0.0)
    return [
        SummaryRow(group=dict(zip(keys, g.values, strict=True)), requests=g.requests, errors=g.errors,
                   cache_hits=g.cache_hits, p50_ms=g.percentiles[50], p95_ms=g.percentiles[95],
                   p99_ms=g.percentiles[99], tokens_in=g.tokens_in, tokens_out=g.tokens_out,
                   cost_usd=g.cost_usd, large_cost_usd=g.large_cost_usd, bucket=g.bucket)
        for g in sorted(store.group_totals(start, end, keys, bucket_s),
                        key=lambda g: (g.bucket or 0.0, tuple(str(v) for v in g.values)))
    ]


def summarize_samples(
    samples: Iterable[Sample], keys: Sequence[str], bucket_s: float | None = None
) -> list[SummaryRow]:
    """The same figures over samples already in hand (`Sample.of(record)` makes one from a record)."""
    groups: dict[tuple[float, tuple[GroupValue, ...]], _Group] = {}
    for sample in samples:
        bucket = math.floor(sample.ts / bucket_s) * bucket_s if bucket_s else 0.0
        values = tuple(getattr(sample, key) for key in keys)
        groups.setdefault((bucket, values), _Group()).add(sample)
    return [
        groups[k].row(dict(zip(keys, k[1], strict=True)), k[0] if bucket_s else None)
        for k in sorted(groups, key=lambda item: (item[0], tuple(str(v) for v in item[1])))
    ]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of ascending values, interpolating between closest ranks; 0 when empty."""
    if not sorted_values:
        return 0.0
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(slots=True)
class _Group:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    cache_hits: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    large_cost_usd: float = 0.0

    def add(self, sample: Sample) -> None:
        self.latencies.append(sample.total_ms)
        self.errors += is_failure(sample.status)
        self.cache_hits += is_cache_hit(sample.cache)
        self.tokens_in += sample.tokens_in
        self.tokens_out += sample.tokens_out
        self.cost_usd += sample.cost_usd
        self.large_cost_usd += sample.large_cost_usd

    def row(self, group: dict[str, GroupValue], bucket: float | None) -> SummaryRow:
        ordered = sorted(self.latencies)
        return SummaryRow(
            group=group,
            requests=len(ordered),
            errors=self.errors,
            cache_hits=self.cache_hits,
            p50_ms=percentile(ordered, 50),
            p95_ms=percentile(ordered, 95),
            p99_ms=percentile(ordered, 99),
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            cost_usd=self.cost_usd,
            large_cost_usd=self.large_cost_usd,
            bucket=bucket,
        )
