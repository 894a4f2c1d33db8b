"""Exact billing: one upstream call is billed once, and a broken upstream stream is an error, not a success.

A real gateway process in front of the priced, recording upstream of tests/upstream.py, which
answers after 4 s for the `slow` route so that 50 identical requests are all in flight together.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from gateway.usage.store import UsageStore
from tests.servers import free_port, start_gateway, stop, wait_for, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]  # gateways start slowly on a busy machine

PRICE_IN, PRICE_OUT = 1e-6, 2e-6


def route(model: str) -> dict:
    # temperature 0: only deterministic requests are cached, and so coalesced
    return {"task": "generation", "targets": {"large": {"model": model}},
            "policy": {"kind": "fixed", "target": "large"}, "params": {"temperature": 0}}


@pytest.fixture(scope="module")
def billing_gateway(test_upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    root = tmp_path_factory.mktemp("billing")
    priced = {"api_base": f"{test_upstream}/v1", "retries": 0, "provider": "openai_compatible",
              "input_cost_per_token": PRICE_IN, "output_cost_per_token": PRICE_OUT}
    gateway = {
        "auth": {"open": True},
        "models": {"slow": {"model": "openai/delay-4000", **priced}, "fast": {"model": "openai/fast", **priced}},
        "log": {"url": f"sqlite:///{root / 'logs.db'}", "flush_interval_s": 0.1, "spool_path": str(root / "spool.db")},
    }
    write_config(root / "configs", gateway, {"slow": route("slow"), "fast": route("fast")})
    port = free_port()
    process = start_gateway(root / "configs", port, log_path=root / "gateway.log")
    yield port, f"sqlite:///{root / 'logs.db'}"
    stop(process)


def upstream_calls(upstream: str) -> int:
    return httpx.get(f"{upstream}/stats", timeout=10).json()["chat"]


async def identical(port: int, n: int, content: str, stream: bool) -> list[tuple[str, str]]:
    """(request id, answer text) of *n* identical concurrent requests."""
    body = {"model": "slow", "stream": stream, "messages": [{"role": "user", "content": content}]}

    async def one(client: httpx.AsyncClient) -> tuple[str, str]:
        response = await client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        if not stream:
            return response.headers["x-request-id"], response.json()["choices"][0]["message"]["content"]
        return response.headers["x-request-id"], streamed_text(response.text)

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=n)) as client:
        return await asyncio.gather(*(one(client) for _ in range(n)))


def streamed_text(sse: str) -> str:
    events = [json.loads(line[6:]) for line in sse.splitlines() if line.startswith("data: {")]
    return "".join((c.get("delta") or {}).get("content") or "" for e in events for c in e.get("choices") or ())


def records_of(url: str, ids: set[str]) -> list:
    store = UsageStore(url)
    found = [logged.record for logged in store.records() if logged.record.request_id in ids]
    store.close()
    return found


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_fifty_identical_requests_make_one_call_billed_once(
    billing_gateway: tuple[int, str], test_upstream: str, stream: bool
) -> None:
    port, url = billing_gateway
    before = upstream_calls(test_upstream)
    answers = asyncio.run(identical(port, 50, f"same question {uuid.uuid4().hex}", stream))
    assert upstream_calls(test_upstream) - before == 1
    assert len({text for _, text in answers}) == 1 and answers[0][1].strip()
    ids = {request_id for request_id, _ in answers}
    assert wait_for(lambda: len(records_of(url, ids)) == 50, 30)
    records = records_of(url, ids)
    billed = [r for r in records if r.cache != "coalesced"]
    followers = [r for r in records if r.cache == "coalesced"]
    assert len(billed) == 1 and billed[0].cache == "miss" and billed[0].tokens_in == 20
    assert billed[0].cost_usd == pytest.approx(20 * PRICE_IN + 10 * PRICE_OUT)
    assert len(followers) == 49
    assert all(r.cost_usd == 0 and r.tokens_in == r.tokens_out == 0 and r.status == 200 for r in followers)
    assert all(r.target == "large" and r.stream == stream for r in records)


@pytest.mark.parametrize("marker", ["[non-sse]", "[empty]"])
def test_a_broken_upstream_stream_is_an_error_event_and_a_502_record(
    billing_gateway: tuple[int, str], marker: str
) -> None:
    port, url = billing_gateway
    body = {"model": "fast", "stream": True, "messages": [{"role": "user", "content": f"{marker} {uuid.uuid4()}"}]}
    response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60)
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["code"] == "upstream_bad_stream" and "200" in error["message"]
    ids = {response.headers["x-request-id"]}
    assert wait_for(lambda: len(records_of(url, ids)) == 1, 30)
    record = records_of(url, ids)[0]
    assert record.status == 502 and record.error_type == "upstream_bad_stream" and record.cost_usd == 0
