"""Every endpoint's refusals leave one request-log record each: bad key, bad body, too large, bad input.

Admin endpoints (/metrics, /dashboard, /v1/logs, /admin) log theirs under the route name `-`, with the
endpoint in the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.usage.record import RequestRecord
from gateway.usage.store import UsageStore
from tests.gateway.conftest import CHAT_ROUTE
from tests.servers import free_port, write_config

KEY = {"authorization": "Bearer sk-refusal-test"}
ADMIN = {"authorization": "Bearer sk-refusal-admin"}


@pytest.fixture
def closed_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A config directory for a gateway with closed auth (a client key and an admin key), and its log's URL."""
    monkeypatch.setenv("T_REFUSAL_KEY", "sk-refusal-test")
    monkeypatch.setenv("T_REFUSAL_ADMIN", "sk-refusal-admin")
    store_url = f"sqlite:///{tmp_path / 'logs.db'}"
    models = {"smollm2": {"model": "openai/smollm2", "api_base": f"http://127.0.0.1:{free_port()}/v1"}}
    auth = {"open": False, "client_key_envs": ["T_REFUSAL_KEY"], "admin_key_envs": ["T_REFUSAL_ADMIN"]}
    gateway = {"server": {"max_body_bytes": 2048}, "auth": auth, "models": models,
               "log": {"url": store_url, "flush_interval_s": 0.1}}
    return write_config(tmp_path / "configs", gateway, {"chat": CHAT_ROUTE}), store_url


def logged(store_url: str) -> dict[str, RequestRecord]:
    store = UsageStore(store_url)
    try:
        records = [logged.record for logged in store.records()]
    finally:
        store.close()
    by_id = {r.request_id: r for r in records}
    assert len(by_id) == len(records), "a request was logged twice"
    return by_id


def test_refusals_on_every_endpoint_are_logged_once(closed_gateway: tuple[Path, str]) -> None:
    root, store_url = closed_gateway
    chat = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    sent = {
        "chat-no-key": ("/v1/chat/completions", {}, chat, 401),
        "chat-too-large": ("/v1/chat/completions", KEY, {**chat, "user": "x" * 4096}, 413),
        "chat-unknown-route": ("/v1/chat/completions", KEY, {**chat, "model": "nope"}, 404),
        "completions-no-key": ("/v1/completions", {}, {"model": "chat", "prompt": "hi"}, 401),
        "completions-echo": ("/v1/completions", KEY, {"model": "chat", "prompt": "hi", "echo": True}, 400),
        "responses-bad-body": ("/v1/responses", KEY, {"model": "chat"}, 400),
        "responses-long-idempotency-key": ("/v1/responses", {**KEY, "idempotency-key": "k" * 256},
                                           {"model": "chat", "input": "hi"}, 400),
        "embeddings-no-key": ("/v1/embeddings", {}, {"model": "e", "input": "hi"}, 401),
        "embeddings-empty": ("/v1/embeddings", KEY, {"model": "e", "input": ["  "]}, 400),
        "embeddings-dimensions": ("/v1/embeddings", KEY, {"model": "e", "input": "hi", "dimensions": 7}, 400),
    }
    with TestClient(create_app(root, watch=False)) as client:
        for request_id, (path, headers, body, status) in sent.items():
            response = client.post(path, json=body, headers={**headers, "x-request-id": request_id})
            assert response.status_code == status, (request_id, response.text)
        assert client.get("/v1/models", headers={"x-request-id": "models-no-key"}).status_code == 401
        sent["models-no-key"] = ("/v1/models", {}, {}, 401)
    by_id = logged(store_url)
    assert sorted(by_id) == sorted(sent)
    assert all(by_id[rid].status == status and by_id[rid].decision == "refused" for rid, (*_, status) in sent.items())
    assert by_id["chat-no-key"].key_id == "" and by_id["embeddings-empty"].key_id == "T_REFUSAL_KEY"


def test_refusals_on_admin_endpoints_are_logged_once_under_route_dash(closed_gateway: tuple[Path, str]) -> None:
    root, store_url = closed_gateway
    sent = {
        "metrics-no-key": ("GET", "/metrics", {}, 401),
        "metrics-client-key": ("GET", "/metrics", KEY, 401),
        "dashboard-no-key": ("GET", "/dashboard", {}, 401),
        "dashboard-bad-since": ("GET", "/dashboard?since=soon", ADMIN, 400),
        "plotly-no-key": ("GET", "/dashboard/plotly.min.js", {}, 401),
        "summary-client-key": ("GET", "/v1/logs/summary", KEY, 401),
        "summary-bad-since": ("GET", "/v1/logs/summary?since=soon", ADMIN, 400),
        "reload-no-key": ("POST", "/admin/reload", {}, 401),
        "openapi-no-key": ("GET", "/openapi.json", {}, 401),
    }
    with TestClient(create_app(root, watch=False)) as client:
        for request_id, (method, path, headers, status) in sent.items():
            response = client.request(method, path, headers={**headers, "x-request-id": request_id})
            assert response.status_code == status, (request_id, response.text)
        # an admin request that is answered is not a refusal, and admin endpoints log nothing else
        assert client.get("/metrics", headers={**ADMIN, "x-request-id": "metrics-answered"}).status_code == 200
    by_id = logged(store_url)
    assert sorted(by_id) == sorted(sent)
    for request_id, (method, path, _, status) in sent.items():
        record = by_id[request_id]
        assert (record.status, record.decision) == (status, "refused"), request_id
        if path != "/openapi.json":  # a client endpoint: logged as the other client refusals are
            assert record.route == "-" and record.reason.startswith(f"refused: {method} {path.split('?')[0]}: ")
    assert by_id["summary-bad-since"].key_id == "T_REFUSAL_ADMIN" and by_id["summary-bad-since"].error_type
    assert by_id["metrics-client-key"].key_id == "" and by_id["openapi-no-key"].route == ""
