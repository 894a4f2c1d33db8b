"""Prometheus metrics for one gateway app, in a registry of its own (never the process-global one).

A registry per app keeps two apps in one process (tests, embedded use) from sharing counters.
With several uvicorn workers each worker serves its own figures; scrape each, or sum in PromQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gateway.usage.record import COALESCED, RequestRecord

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds; spans a cache hit (~1 ms) to a slow large-model generation (~1 min).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(slots=True)
class _Series:
    """The children of one (route, target) pair, looked up once: `labels()` took a lock and built a key
    per call, eight times per request (docs/benchmarks.md, "Fixes from the profiles")."""

    requests: Any
    latency: Any
    upstream_latency: Any
    tokens_in: Any
    tokens_out: Any
    cost: Any
    large_cost: Any
    cache: dict[str, Any] = field(default_factory=dict)


class UsageMetrics:
    """Counters, histograms and gauges fed by `observe(record)` and by the log recorder."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        # as many entries as the label children prometheus_client keeps for the same pairs
        self._series: dict[tuple[str, str], _Series] = {}
        route_target = ("route", "target")
        self.requests = Counter(
            "ragway_requests", "Requests answered.", route_target, registry=self.registry
        )
        self.errors = Counter(
            "ragway_errors", "Requests answered with a 4xx/5xx status.", (*route_target, "error_type"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "ragway_request_duration_seconds", "Total time in the gateway per request.", route_target,
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "ragway_upstream_duration_seconds", "Time spent waiting on the upstream model (cache hits excluded).",
            route_target, buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.tokens = Counter(
            "ragway_tokens", "Tokens sent to and received from models.", (*route_target, "direction"),
            registry=self.registry,
        )
        self.cost = Counter("ragway_cost_usd", "Spend in USD.", route_target, registry=self.registry)
        self.large_cost = Counter(
            "ragway_large_model_cost_usd", "What the same traffic would have cost on each route's large model.",
            ("route",), registry=self.registry,
        )
        self.cache = Counter(
            "ragway_cache_lookups", "Requests by cache outcome (hit, semantic-hit, miss, bypass).",
            ("route", "result"), registry=self.registry,
        )
        self.queue_depth = Gauge(
            "ragway_log_queue_depth", "Records waiting to be written to the log store.", registry=self.registry
        )
        self.dropped = Counter(
            "ragway_log_dropped_records", "Records lost: the queue was full, or the spool at its size limit.",
            ("reason",), registry=self.registry,
        )
        self.spooled = Counter(
            "ragway_log_spooled_records", "Records the store could not take, kept in the local spool.",
            registry=self.registry,
        )
        self.replayed = Counter(
            "ragway_log_replayed_records", "Spooled records written to the store once it answered again.",
            registry=self.registry,
        )
        self.spool_depth = Gauge(
            "ragway_log_spool_depth", "Records waiting in the local spool.", registry=self.registry
        )
        self.store_up = Gauge(
            "ragway_log_store_up", "1 while the log store takes writes, 0 while records go to the spool.",
            registry=self.registry,
        )
        self.written = Counter(
            "ragway_log_written_records", "Records written to the log store.", registry=self.registry
        )

    def observe(self, rec: RequestRecord) -> None:
        """Count one finished request."""
        series = self._series.get((rec.route, rec.target)) or self._add_series(rec.route, rec.target)
        series.requests.inc()
        if rec.failed:
            self.errors.labels(rec.route, rec.target, rec.error_type or str(rec.status)).inc()
        series.latency.observe(rec.latency.total_ms / 1000)
        if not rec.cache_hit and rec.cache != COALESCED and rec.latency.upstream_ms > 0:
            series.upstream_latency.observe(rec.latency.upstream_ms / 1000)
        series.tokens_in.inc(rec.tokens_in)
        series.tokens_out.inc(rec.tokens_out)
        series.cost.inc(rec.cost_usd)
        series.large_cost.inc(rec.large_cost_usd)
        result = rec.cache.split(";", 1)[0]
        cache = series.cache.get(result)
        if cache is None:
            cache = series.cache[result] = self.cache.labels(rec.route, result)
        cache.inc()

    def _add_series(self, route: str, target: str) -> _Series:
        series = _Series(self.requests.labels(route, target), self.latency.labels(route, target),
                         self.upstream_latency.labels(route, target), self.tokens.labels(route, target, "in"),
                         self.tokens.labels(route, target, "out"), self.cost.labels(route, target),
                         self.large_cost.labels(route))
        self._series[(route, target)] = series
        return series

    def track_queue(self, depth: Callable[[], int]) -> None:
        """Report *depth()* as the log-queue depth at every scrape."""
        self.queue_depth.set_function(depth)

    def track_spool(self, depth: Callable[[], int], up: Callable[[], bool]) -> None:
        """Report the spool's depth and whether the store is reachable at every scrape."""
        self.spool_depth.set_function(depth)
        self.store_up.set_function(lambda: float(up()))

    def track_stats(self, prefix: str, read: Callable[[], Mapping[str, float | int | bool]]) -> None:
        """Export every counter *read()* returns as `<prefix>_<name>` at each scrape (e.g. the cache's)."""
        self.registry.register(_StatsCollector(prefix, read))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (serve with CONTENT_TYPE)."""
        return generate_latest(self.registry)


class _StatsCollector(Collector):
    def __init__(self, prefix: str, read: Callable[[], Mapping[str, float | int | bool]]) -> None:
        self.prefix = prefix
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, value in self.read().items():
            yield GaugeMetricFamily(f"{self.prefix}_{name}", f"{self.prefix} {name} since start", value=float(value))
