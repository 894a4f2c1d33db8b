"""Real gateway processes writing the request log: SIGTERM loses nothing; two replicas share one store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from gateway.usage.store import UsageStore
from gateway.usage.summary import summarize
from tests.gateway.conftest import CHAT_ROUTE, base_gateway
from tests.servers import free_port, start_gateway, stop, write_config

pytestmark = pytest.mark.slow


def send(port: int, n: int, model: str = "chat") -> None:
    for i in range(n):
        body = {"model": model, "max_tokens": 2, "messages": [{"role": "user", "content": f"Say {i}"}]}
        response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60)
        assert response.status_code == 200, response.text


def streamed_content(sse: str) -> str:
    """The assistant text a client reads from an SSE answer."""
    events = [json.loads(line[6:]) for line in sse.splitlines() if line.startswith("data: {")]
    return "".join((c.get("delta") or {}).get("content") or "" for e in events for c in e.get("choices") or ())


def logged_config(root: Path, llama_url: str, store_url: str) -> Path:
    gateway = base_gateway(llama_url, log={"url": store_url, "flush_interval_s": 5.0})
    return write_config(root, gateway, {"chat": CHAT_ROUTE})


def test_sigterm_after_n_requests_stores_exactly_n(tmp_path: Path, llama_url: str, store_url: str) -> None:
    root = logged_config(tmp_path / "configs", llama_url, store_url)
    port = free_port()
    process = start_gateway(root, port, log_path=tmp_path / "gateway.log")
    try:
        send(port, 12)
        body = {"model": "nope", "messages": [{"role": "user", "content": "x"}]}
        assert httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body).status_code == 404
    finally:
        stop(process)
    store = UsageStore(store_url)
    try:
        records = store.records()
        assert len(records) == 13
        refused = records[-1].record
        assert (refused.route, refused.status, refused.error_type, refused.decision) == ("", 404, "model_not_found",
                                                                                         "refused")
        record = records[0].record
        assert record.route == "chat" and record.target == "large" and record.model == "smollm2"
        assert record.tokens_in > 0 and record.tokens_out > 0 and record.latency.total_ms > 0
        assert record.latency.upstream_ms > 0 and record.status == 200 and record.key_id == "open"
    finally:
        store.close()


def test_two_gateways_share_one_postgresql_store(tmp_path: Path, llama_url: str, store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("replicas share PostgreSQL; SQLite is the single-machine store")
    ports = [free_port(), free_port()]
    processes = [start_gateway(logged_config(tmp_path / f"c{i}", llama_url, store_url), port)
                 for i, port in enumerate(ports)]
    try:
        send(ports[0], 3)
        send(ports[1], 4)
    finally:
        for process in processes:
            stop(process)
    store = UsageStore(store_url)
    try:
        rows = summarize(store, timedelta(hours=1), ["route"])
        assert [(row.group["route"], row.requests) for row in rows] == [("chat", 7)]
    finally:
        store.close()


def test_log_text_route_stores_the_question_and_the_answer(tmp_path: Path, llama_url: str) -> None:
    store_url = f"sqlite:///{tmp_path / 'logs.db'}"
    gateway = base_gateway(llama_url, log={"url": store_url, "flush_interval_s": 0.1})
    root = write_config(tmp_path / "configs", gateway, {"chat": {**CHAT_ROUTE, "log_text": True}, "quiet": CHAT_ROUTE})
    port = free_port()
    process = start_gateway(root, port)
    answers = {}
    try:
        for route, stream in (("chat", False), ("chat", True), ("quiet", False)):
            body = {"model": route, "stream": stream, "messages": [
                {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": f"Name a colour ({route}, {stream})"}]}
            with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60) as r:
                assert r.status_code == 200
                answers[(route, stream)] = r.read().decode()
    finally:
        stop(process)
    store = UsageStore(store_url)
    try:
        logged = {(lg.record.route, lg.record.stream): lg.record for lg in store.records()}
    finally:
        store.close()
    plain, streamed = logged[("chat", False)], logged[("chat", True)]
    assert plain.input_text == "Name a colour (chat, False)"
    assert plain.output_text and plain.output_text == json.loads(answers[("chat", False)])["choices"][0]["message"][
        "content"]
    assert streamed.input_text == "Name a colour (chat, True)"
    assert streamed.output_text and streamed.output_text == streamed_content(answers[("chat", True)])
    assert (logged[("quiet", False)].input_text, logged[("quiet", False)].output_text) == ("", "")


def test_requests_refused_before_routing_are_logged_with_their_error(tmp_path: Path, llama_url: str) -> None:
    store_url = f"sqlite:///{tmp_path / 'logs.db'}"
    auth = {"open": False, "client_key_envs": ["T_CLIENT_KEY"]}
    gateway = base_gateway(llama_url, auth=auth, log={"url": store_url, "flush_interval_s": 0.1})
    root = write_config(tmp_path / "configs", gateway, {"chat": CHAT_ROUTE})
    port = free_port()
    process = start_gateway(root, port, env={"T_CLIENT_KEY": "sk-log-test"})
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    key = {"authorization": "Bearer sk-log-test", "x-request-id": "bad-json"}
    try:
        assert httpx.post(url, json={"model": "chat", "messages": []}, headers={"x-request-id": "no-key"}).status_code \
            == 401
        assert httpx.post(url, content=b"{not json", headers=key).status_code == 400
        body = {"model": "chat", "messages": [{"role": "robot", "content": "x"}]}
        assert httpx.post(url, json=body, headers={**key, "x-request-id": "bad-role"}).status_code == 400
    finally:
        stop(process)
    store = UsageStore(store_url)
    try:
        logged = {lg.record.request_id: lg.record for lg in store.records()}
    finally:
        store.close()
    assert {rid: (r.status, r.error_type, r.key_id, r.decision) for rid, r in logged.items()} == {
        "no-key": (401, "invalid_api_key", "", "refused"),
        "bad-json": (400, "invalid_json", "T_CLIENT_KEY", "refused"),
        "bad-role": (400, "invalid_value", "T_CLIENT_KEY", "refused"),
    }
    assert all(r.latency.total_ms > 0 and r.reason.startswith("refused: ") for r in logged.values())
