"""Idempotency-Key on every inference endpoint: a retry gets the first answer, plain or streamed, from one
upstream call billed once; the key with another body, or on another endpoint, is a 409.

A real gateway process in front of the priced, recording upstream of tests/upstream.py, called with the
official openai client. The route sets no temperature, so the cache never answers: only the key can.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import openai
import orjson
import pytest
from openai import OpenAI

from gateway.usage.record import RequestRecord
from gateway.usage.store import UsageStore
from tests.servers import free_port, start_gateway, stop, wait_for, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a gateway starts slowly on a busy machine

PRICE_IN, PRICE_OUT = 1e-6, 2e-6
ROUTE = "idem"


@dataclass(frozen=True)
class Answer:
    id: str
    text: str
    replayed: bool


@pytest.fixture(scope="module")
def gateway(test_upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OpenAI, str]]:
    root = tmp_path_factory.mktemp("idempotency")
    model = {"model": "openai/fast", "api_base": f"{test_upstream}/v1", "retries": 0, "provider": "openai_compatible",
             "input_cost_per_token": PRICE_IN, "output_cost_per_token": PRICE_OUT}
    logs = f"sqlite:///{root / 'logs.db'}"
    config = {"auth": {"open": True}, "models": {"fast": model},
              "log": {"url": logs, "flush_interval_s": 0.1, "spool_path": str(root / "spool.db")}}
    route = {"task": "generation", "targets": {"large": {"model": "fast"}},
             "policy": {"kind": "fixed", "target": "large"}}
    write_config(root / "configs", config, {ROUTE: route})
    port = free_port()
    process = start_gateway(root / "configs", port, log_path=root / "gateway.log")
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=60)
    yield client, logs
    client.close()
    stop(process)


def chat(client: OpenAI, text: str, stream: bool, headers: dict[str, str]) -> Answer:
    raw = client.chat.completions.with_raw_response.create(
        model=ROUTE, messages=[{"role": "user", "content": text}], stream=stream, extra_headers=headers)
    replayed = raw.headers.get("idempotent-replayed") == "true"
    if not stream:
        body = raw.parse()
        return Answer(body.id, body.choices[0].message.content or "", replayed)
    chunks = list(raw.parse())
    return Answer(chunks[0].id, "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), replayed)


def completions(client: OpenAI, text: str, stream: bool, headers: dict[str, str]) -> Answer:
    raw = client.completions.with_raw_response.create(model=ROUTE, prompt=text, stream=stream, extra_headers=headers)
    replayed = raw.headers.get("idempotent-replayed") == "true"
    if not stream:
        body = raw.parse()
        return Answer(body.id, body.choices[0].text, replayed)
    chunks = list(raw.parse())
    return Answer(chunks[0].id, "".join(c.choices[0].text for c in chunks if c.choices), replayed)


def responses(client: OpenAI, text: str, stream: bool, headers: dict[str, str]) -> Answer:
    raw = client.responses.with_raw_response.create(model=ROUTE, input=text, stream=stream, extra_headers=headers)
    replayed = raw.headers.get("idempotent-replayed") == "true"
    if not stream:
        body = raw.parse()
        return Answer(body.id, body.output_text, replayed)
    events = list(raw.parse())
    completed = [e.response for e in events if e.type == "response.completed"]
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert len(completed) == 1 and completed[0].output_text == deltas
    return Answer(completed[0].id, deltas, replayed)


ENDPOINTS: dict[str, Callable[[OpenAI, str, bool, dict[str, str]], Answer]] = {
    "chat": chat, "completions": completions, "responses": responses}


def upstream_calls(upstream: str) -> int:
    return httpx.get(f"{upstream}/stats", timeout=10).json()["chat"]


def records(url: str, ids: set[str]) -> dict[str, RequestRecord]:
    store = UsageStore(url)
    try:
        return {r.record.request_id: r.record for r in store.records() if r.record.request_id in ids}
    finally:
        store.close()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("endpoint", ["chat", "completions", "responses"])
def test_a_retry_gets_the_first_answer_from_one_call_billed_once(
    gateway: tuple[OpenAI, str], test_upstream: str, endpoint: str, stream: bool
) -> None:
    client, logs = gateway
    ask, key, text = ENDPOINTS[endpoint], uuid.uuid4().hex, f"question {uuid.uuid4().hex}"
    before = upstream_calls(test_upstream)
    first = ask(client, text, stream, {"Idempotency-Key": key, "x-request-id": f"{key}-1"})
    retry = ask(client, text, stream, {"Idempotency-Key": key, "x-request-id": f"{key}-2"})
    assert upstream_calls(test_upstream) - before == 1
    assert first.text.strip() and (retry.text, retry.id) == (first.text, first.id)
    assert (first.replayed, retry.replayed) == (False, True)
    ids = {f"{key}-1", f"{key}-2"}
    assert wait_for(lambda: len(records(logs, ids)) == 2, 30)
    billed, replay = records(logs, ids)[f"{key}-1"], records(logs, ids)[f"{key}-2"]
    assert billed.cache != "replay" and billed.cost_usd == pytest.approx(20 * PRICE_IN + 10 * PRICE_OUT)
    assert (replay.cache, replay.cost_usd, replay.tokens_in, replay.route, replay.stream) == ("replay", 0, 0, ROUTE,
                                                                                             stream)


@pytest.mark.parametrize("endpoint", ["completions", "responses"])
def test_the_key_with_another_body_is_a_409(gateway: tuple[OpenAI, str], test_upstream: str, endpoint: str) -> None:
    client, _ = gateway
    ask, key = ENDPOINTS[endpoint], uuid.uuid4().hex
    ask(client, "the first question", False, {"Idempotency-Key": key})
    before = upstream_calls(test_upstream)
    with pytest.raises(openai.ConflictError) as refused:
        ask(client, "another question", False, {"Idempotency-Key": key})
    assert refused.value.code == "idempotency_conflict" and "different request" in refused.value.message
    assert upstream_calls(test_upstream) == before


def test_the_key_and_body_on_another_endpoint_is_a_409(gateway: tuple[OpenAI, str]) -> None:
    client, _ = gateway
    # one body every endpoint reads: each takes its own field and passes the others on as extras
    messages = [{"role": "user", "content": "hi"}]
    body = orjson.dumps({"model": ROUTE, "prompt": "hi", "input": "hi", "messages": messages})
    headers = {"Idempotency-Key": uuid.uuid4().hex, "content-type": "application/json"}
    base = str(client.base_url).rstrip("/")
    first = httpx.post(f"{base}/completions", content=body, headers=headers, timeout=60)
    assert first.status_code == 200, first.text
    other = httpx.post(f"{base}/responses", content=body, headers=headers, timeout=60)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
