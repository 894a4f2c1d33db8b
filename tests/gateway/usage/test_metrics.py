"""Prometheus metrics: per-app registries, what one record adds, the text exposition."""

from __future__ import annotations

from gateway.usage.metrics import UsageMetrics
from gateway.usage.record import Latency
from tests.gateway.usage.conftest import make_record


def value(metrics: UsageMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_observe_counts_requests_errors_tokens_cost_cache_and_latency() -> None:
    metrics = UsageMetrics()
    metrics.observe(make_record(1.0, "intent", "small", 40.0, tokens_in=12, tokens_out=3, cost_usd=0.5,
                                large_cost_usd=2.0, cache="miss",
                                latency=Latency(upstream_ms=30.0, total_ms=40.0)))
    metrics.observe(make_record(2.0, "intent", "small", 2.0, cache="semantic-hit;score=0.97"))
    metrics.observe(make_record(3.0, "intent", "large", 900.0, status=502, error_type="upstream_error"))

    assert value(metrics, "ragway_requests_total", route="intent", target="small") == 2
    assert value(metrics, "ragway_errors_total", route="intent", target="large", error_type="upstream_error") == 1
    assert value(metrics, "ragway_errors_total", route="intent", target="small", error_type="upstream_error") is None
    assert value(metrics, "ragway_tokens_total", route="intent", target="small", direction="in") == 12
    assert value(metrics, "ragway_tokens_total", route="intent", target="small", direction="out") == 3
    assert value(metrics, "ragway_cost_usd_total", route="intent", target="small") == 0.5
    assert value(metrics, "ragway_large_model_cost_usd_total", route="intent") == 2.0
    assert value(metrics, "ragway_cache_lookups_total", route="intent", result="semantic-hit") == 1
    assert value(metrics, "ragway_cache_lookups_total", route="intent", result="miss") == 1
    labels = {"route": "intent", "target": "small"}
    assert value(metrics, "ragway_request_duration_seconds_count", **labels) == 2
    assert value(metrics, "ragway_request_duration_seconds_sum", **labels) == 0.042
    assert value(metrics, "ragway_request_duration_seconds_bucket", **labels, le="0.0025") == 1
    # the cache hit never reached the upstream, so only one upstream sample
    assert value(metrics, "ragway_upstream_duration_seconds_count", **labels) == 1


def test_each_app_has_its_own_registry() -> None:
    first, second = UsageMetrics(), UsageMetrics()
    first.observe(make_record(1.0))
    assert value(first, "ragway_requests_total", route="chat", target="large") == 1
    assert value(second, "ragway_requests_total", route="chat", target="large") is None


def test_render_is_prometheus_text_with_queue_depth() -> None:
    metrics = UsageMetrics()
    metrics.track_queue(lambda: 7)
    metrics.observe(make_record(1.0))
    text = metrics.render().decode()
    assert "# TYPE ragway_requests_total counter" in text
    assert 'ragway_requests_total{route="chat",target="large"} 1.0' in text
    assert "ragway_log_queue_depth 7.0" in text
