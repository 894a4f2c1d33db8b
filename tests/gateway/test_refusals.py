"""Every endpoint's refusals leave one request-log record each: bad key, bad body, too large, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.usage.store import UsageStore
from tests.gateway.conftest import CHAT_ROUTE
from tests.servers import free_port, write_config

KEY = {"authorization": "Bearer sk-refusal-test"}


def test_refusals_on_every_endpoint_are_logged_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_REFUSAL_KEY", "sk-refusal-test")
    store_url = f"sqlite:///{tmp_path / 'logs.db'}"
    models = {"smollm2": {"model": "openai/smollm2", "api_base": f"http://127.0.0.1:{free_port()}/v1"}}
    gateway = {"server": {"max_body_bytes": 2048}, "auth": {"open": False, "client_key_envs": ["T_REFUSAL_KEY"]},
               "models": models, "log": {"url": store_url, "flush_interval_s": 0.1}}
    root = write_config(tmp_path / "configs", gateway, {"chat": CHAT_ROUTE})
    chat = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    sent = {
        "chat-no-key": ("/v1/chat/completions", {}, chat, 401),
        "chat-too-large": ("/v1/chat/completions", KEY, {**chat, "user": "x" * 4096}, 413),
        "chat-unknown-route": ("/v1/chat/completions", KEY, {**chat, "model": "nope"}, 404),
        "completions-no-key": ("/v1/completions", {}, {"model": "chat", "prompt": "hi"}, 401),
        "completions-echo": ("/v1/completions", KEY, {"model": "chat", "prompt": "hi", "echo": True}, 400),
        "responses-bad-body": ("/v1/responses", KEY, {"model": "chat"}, 400),
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
    store = UsageStore(store_url)
    try:
        records = [logged.record for logged in store.records()]
    finally:
        store.close()
    assert sorted(r.request_id for r in records) == sorted(sent)
    by_id = {r.request_id: r for r in records}
    assert all(by_id[rid].status == status and by_id[rid].decision == "refused" for rid, (*_, status) in sent.items())
    assert by_id["chat-no-key"].key_id == "" and by_id["embeddings-empty"].key_id == "T_REFUSAL_KEY"
