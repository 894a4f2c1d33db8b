"""The response cache through real gateway processes: in-process, shared on Redis, and Redis failing."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import CHAT_ROUTE, base_gateway
from tests.servers import free_port, start_gateway, stop, write_config

pytestmark = pytest.mark.slow
ROUTE = {**CHAT_ROUTE, "task": "classification", "cache": {"enabled": True, "semantic_threshold": 0.85}}
QUESTION = "What is the capital city of France?"
PARAPHRASE = "what's the capital of france"


def ask(port: int, text: str, headers: dict | None = None, stream: bool = False) -> httpx.Response:
    body = {"model": "faq", "messages": [{"role": "user", "content": text}], "stream": stream}
    return httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers=headers, timeout=60)


def gateway_with_cache(root: Path, llama_url: str, cache: dict) -> tuple[subprocess.Popen, int]:
    write_config(root, base_gateway(llama_url, cache=cache), {"faq": ROUTE})
    port = free_port()
    return start_gateway(root, port, log_path=root / "gateway.log"), port


@pytest.fixture(scope="module")
def memory_gateway(tmp_path_factory: pytest.TempPathFactory, llama_url: str) -> Iterator[int]:
    """One gateway for the in-process tests; each test asks its own question so none sees another's entries."""
    process, port = gateway_with_cache(tmp_path_factory.mktemp("memory"), llama_url, {"url": "memory://"})
    yield port
    stop(process)


def test_repeat_is_an_exact_hit(memory_gateway: int) -> None:
    first = ask(memory_gateway, "Which ocean is the largest?")
    second = ask(memory_gateway, "Which ocean is the largest?")
    assert first.headers["x-ragway-cache"] == "miss"
    assert second.headers["x-ragway-cache"] == "hit"
    assert second.json()["choices"] == first.json()["choices"]
    assert second.json()["ragway"]["target"] == "large"


def test_paraphrase_is_a_semantic_hit_with_its_score(memory_gateway: int) -> None:
    ask(memory_gateway, QUESTION)
    hit = ask(memory_gateway, PARAPHRASE)
    status = hit.headers["x-ragway-cache"]
    kind, *params = status.split(";")
    fields = dict(param.split("=", 1) for param in params)
    assert kind == "semantic-hit"
    assert 0.85 <= float(fields["score"]) < 1.0
    assert fields["rule"]  # the header names the rule that served the hit


def test_no_store_and_no_cache(memory_gateway: int) -> None:
    text = "How many legs does a spider have?"
    ask(memory_gateway, text)
    assert ask(memory_gateway, text, {"cache-control": "no-store"}).headers["x-ragway-cache"] == "bypass"
    assert ask(memory_gateway, text, {"x-ragway-cache": "no-store"}).headers["x-ragway-cache"] == "bypass"
    assert ask(memory_gateway, text, {"cache-control": "no-cache"}).headers["x-ragway-cache"] == "miss"
    bad = ask(memory_gateway, text, {"x-ragway-cache": "sometimes"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"


def test_cached_answer_replays_as_a_stream(memory_gateway: int) -> None:
    text = "What colour is the sky on a clear day?"
    plain = ask(memory_gateway, text).json()["choices"][0]["message"]["content"]
    streamed = ask(memory_gateway, text, stream=True)
    assert streamed.headers["x-ragway-cache"] == "hit"
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(
        (choice.get("delta") or {}).get("content") or ""
        for event in events[:-1] for choice in httpx.Response(200, content=event).json().get("choices", [])
    )
    assert text == plain


def test_stream_miss_is_stored(memory_gateway: int) -> None:
    text = "Name one planet."
    streamed = ask(memory_gateway, text, stream=True)
    assert streamed.headers["x-ragway-cache"] == "miss" and streamed.text.endswith("data: [DONE]\n\n")
    assert ask(memory_gateway, text).headers["x-ragway-cache"] == "hit"


def test_two_gateways_share_redis(tmp_path: Path, llama_url: str) -> None:
    cache = {"url": "redis://127.0.0.1:6379/0", "key_prefix": f"ragway-test:{uuid.uuid4().hex[:8]}"}
    a, port_a = gateway_with_cache(tmp_path / "a", llama_url, cache)
    b, port_b = gateway_with_cache(tmp_path / "b", llama_url, cache)
    try:
        assert ask(port_a, QUESTION).headers["x-ragway-cache"] == "miss"
        assert ask(port_b, QUESTION).headers["x-ragway-cache"] == "hit"
        deadline = time.monotonic() + 5
        status = ""
        while time.monotonic() < deadline and not status.startswith("semantic-hit"):
            status = ask(port_b, PARAPHRASE).headers["x-ragway-cache"]
        assert status.startswith("semantic-hit")
    finally:
        stop(a)
        stop(b)


def test_redis_down_then_back(tmp_path: Path, llama_url: str) -> None:
    redis_port = free_port()
    start_redis = ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no",
                   "--bind", "127.0.0.1"]
    redis = subprocess.Popen(start_redis, stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    cache = {"url": f"redis://127.0.0.1:{redis_port}/0", "retry_after_s": 0.5}
    gateway, port = gateway_with_cache(tmp_path / "c", llama_url, cache)
    try:
        assert ask(port, QUESTION).status_code == 200
        assert ask(port, QUESTION).headers["x-ragway-cache"] == "hit"
        stop(redis)
        down = [ask(port, QUESTION) for _ in range(3)]
        assert all(r.status_code == 200 for r in down)
        assert all(r.headers["x-ragway-cache"] == "miss" for r in down)
        redis = subprocess.Popen(start_redis, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        statuses = []
        while time.monotonic() < deadline and "hit" not in statuses:
            time.sleep(0.6)
            statuses.append(ask(port, QUESTION).headers["x-ragway-cache"])
        assert "hit" in statuses
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert _metric(metrics, "ragway_cache_store_errors") >= 1
    finally:
        stop(gateway)
        stop(redis)


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "_total "):
            return float(line.split()[-1])
    raise AssertionError(f"metric {name} not exported")
