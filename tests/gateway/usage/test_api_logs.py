"""GET /v1/logs/summary, /metrics and /dashboard through a FastAPI TestClient on both stores."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.api.auth import Authenticator
from gateway.config.gateway_file import AuthConfig
from gateway.usage.metrics import UsageMetrics
from gateway.usage.store import UsageStore
from gateway.usage.writer import NullRecorder, UsageRecorder
from tests.gateway.usage.conftest import make_record
from tests.gateway.usage.fakes import ADMIN_KEY, fake_app

ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def recorder(store: UsageStore) -> UsageRecorder:
    now = time.time()
    store.insert_many([
        make_record(now - 30, "chat", "large", 20, tokens_in=5, cost_usd=0.002, large_cost_usd=0.002),
        make_record(now - 20, "intent", "small", 4, cache="hit", large_cost_usd=0.001),
        make_record(now - 10, "intent", "small", 8, status=504, error_type="upstream_timeout"),
        make_record(now - 3 * 86_400, "intent", "small", 999),
    ])
    return UsageRecorder(store, UsageMetrics())


@pytest.fixture
def client(recorder: UsageRecorder) -> Iterator[TestClient]:
    with TestClient(fake_app(recorder)) as client:
        yield client


def test_summary_needs_the_admin_key(client: TestClient) -> None:
    response = client.get("/v1/logs/summary")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/logs/summary", headers={"authorization": "Bearer nope"}).status_code == 401
    assert client.app.state.deps.service.refused == [("-", "GET /v1/logs/summary", 401)] * 2


def test_summary_returns_the_cli_figures_as_json(client: TestClient) -> None:
    response = client.get("/v1/logs/summary", params={"since": "1d", "by": "route,target"}, headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and body["by"] == ["route", "target"]
    rows = {(row["route"], row["target"]): row for row in body["data"]}
    assert set(rows) == {("chat", "large"), ("intent", "small")}
    intent = rows[("intent", "small")]
    assert (intent["requests"], intent["error_rate"], intent["cache_hit_rate"]) == (2, 0.5, 0.5)
    assert intent["p50_ms"] == pytest.approx(6.0) and intent["savings_usd"] == pytest.approx(0.001)
    assert rows[("chat", "large")]["tokens_in"] == 5


@pytest.mark.parametrize(("params", "param"), [({"since": "soon"}, "since"), ({"by": "colour"}, "by")])
def test_summary_rejects_bad_parameters(client: TestClient, params: dict[str, str], param: str) -> None:
    response = client.get("/v1/logs/summary", params=params, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_metrics_serves_prometheus_text(client: TestClient, recorder: UsageRecorder) -> None:
    recorder.metrics.observe(make_record(1.0, "intent", "small", 4.0, cache="hit"))
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'ragway_cache_lookups_total{result="hit",route="intent"} 1.0' in response.text
    assert "ragway_log_queue_depth 0.0" in response.text


def test_dashboard_page_embeds_the_figures_and_serves_plotly(client: TestClient) -> None:
    assert client.get("/dashboard").status_code == 401
    page = client.get("/dashboard", params={"since": "6h"}, headers=ADMIN)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/dashboard/plotly.min.js">' in page.text
    assert "3 requests in the last 6h" in page.text
    script = client.get("/dashboard/plotly.min.js", headers=ADMIN)
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert len(script.content) > 1_000_000 and b"plotly" in script.content[:2000].lower()
    assert client.get("/dashboard", params={"since": "yesterday"}, headers=ADMIN).status_code == 400


def test_logging_off_means_no_summary_but_metrics_still_work() -> None:
    with TestClient(fake_app(NullRecorder())) as client:
        response = client.get("/v1/logs/summary", headers=ADMIN)
        assert response.status_code == 503
        assert "log.enabled" in response.json()["error"]["message"]
        assert client.get("/metrics", headers=ADMIN).status_code == 200


def test_the_gateways_authenticator_guards_the_summary(recorder: UsageRecorder) -> None:
    auth = Authenticator(AuthConfig(open=True, admin_key_envs=["RAGWAY_ADMIN_KEY"]), environ={"RAGWAY_ADMIN_KEY": "k1"})
    with TestClient(fake_app(recorder, auth)) as client:
        assert client.get("/v1/logs/summary").status_code == 401
        assert client.get("/v1/logs/summary", headers={"authorization": "Bearer k2"}).status_code == 401
        response = client.get("/v1/logs/summary", params={"by": "route"}, headers={"authorization": "Bearer k1"})
        assert response.status_code == 200
        assert {row["route"]: row["requests"] for row in response.json()["data"]} == {"chat": 1, "intent": 2}
