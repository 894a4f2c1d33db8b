"""The benchmark stub answers like OpenAI: checked with the official openai client against a real process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from bench.stub_upstream import ANSWER, USAGE, parse

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    port = _free_port()
    argv = [sys.executable, "-m", "bench.stub_upstream", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/v1/models", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def client(stub_url: str) -> OpenAI:
    return OpenAI(base_url=f"{stub_url}/v1", api_key="sk-bench", max_retries=0, timeout=5)


def test_chat_completion_parses_with_the_openai_client(client: OpenAI) -> None:
    reply = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == ANSWER
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "m1"
    assert reply.usage is not None and reply.usage.total_tokens == USAGE["total_tokens"]


def test_stream_carries_the_answer_and_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="m2", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == USAGE["completion_tokens"]


def test_models_lists_the_stub(client: OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["stub"]


def test_stats_count_chat_requests_only(client: OpenAI, stub_url: str) -> None:
    before = httpx.get(f"{stub_url}/stats").json()["requests"]
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    client.models.list()
    assert httpx.get(f"{stub_url}/stats").json()["requests"] == before + 1


def test_unknown_path_is_an_openai_style_404(stub_url: str) -> None:
    response = httpx.post(f"{stub_url}/v1/embeddings", json={})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_parse_waits_for_the_whole_body() -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 10\r\n\r\n"
    assert parse(bytearray(head + b"12345")) is None
    request, used = parse(bytearray(head + b"1234567890NEXT"))
    assert request.body == b"1234567890"
    assert used == len(head) + 10
    assert request.keep_alive


def test_parse_decodes_a_chunked_body_and_honours_connection_close() -> None:
    raw = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    request, used = parse(bytearray(raw))
    assert request.body == b"abcde"
    assert used == len(raw)
    assert not request.keep_alive
