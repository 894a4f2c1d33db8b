"""Idempotency-Key: one run per key, retries replayed at zero cost, in-process and on real Redis."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from starlette.responses import Response, StreamingResponse

from gateway.api.idempotency import Idempotency, MemoryKeys, RedisKeys
from gateway.config.gateway_sections import IdempotencyConfig
from gateway.errors import Conflict, UpstreamError
from gateway.pipeline.context import RequestContext
from gateway.sse import DONE, event
from gateway.usage.record import RequestRecord


@pytest.fixture(params=["memory", "redis"])
async def idempotency(request: pytest.FixtureRequest):
    config = IdempotencyConfig(wait_s=2)
    if request.param == "memory":
        keys = MemoryKeys(100)
    else:
        keys = RedisKeys("redis://127.0.0.1:6379/0", f"ragway-test-idem-{uuid.uuid4().hex[:8]}:")
    yield Idempotency(config, keys)
    await keys.aclose()


class Upstream:
    def __init__(self, fail: bool = False, delay_s: float = 0.0) -> None:
        self.calls = 0
        self.fail = fail
        self.delay_s = delay_s

    async def answer(self) -> Response:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise UpstreamError("upstream down")
        body = {"id": f"chatcmpl-{self.calls}", "choices": [{"message": {"content": "ok"}}], "ragway": {"route": "r"}}
        return Response(orjson.dumps(body), media_type="application/json")


def ctx(request_id: str) -> RequestContext:
    return RequestContext(request_id=request_id, key_id="k")


async def test_concurrent_retries_run_once_and_are_logged_free(idempotency: Idempotency) -> None:
    upstream, logged = Upstream(delay_s=0.2), []
    answers = await asyncio.gather(*(
        idempotency.respond("key-1", b"{}", False, ctx(f"r{n}"), logged.append, upstream.answer) for n in range(3)))
    assert upstream.calls == 1
    assert {orjson.loads(a.body)["id"] for a in answers} == {"chatcmpl-1"}
    assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == ["", "true", "true"]
    assert [(r.cache, r.cost_usd, r.route) for r in logged] == [("replay", 0.0, "r")] * 2
    assert all(isinstance(r, RequestRecord) for r in logged)


async def test_same_request_id_again_is_not_logged_twice(idempotency: Idempotency) -> None:
    upstream, logged = Upstream(), []
    await idempotency.respond("key-2", b"{}", False, ctx("same"), logged.append, upstream.answer)
    await idempotency.respond("key-2", b"{}", False, ctx("same"), logged.append, upstream.answer)
    assert upstream.calls == 1 and logged == []


async def test_a_failed_first_attempt_lets_the_retry_run(idempotency: Idempotency) -> None:
    upstream = Upstream(fail=True)
    with pytest.raises(UpstreamError):
        await idempotency.respond("key-3", b"{}", False, ctx("a"), lambda r: None, upstream.answer)
    upstream.fail = False
    answer = await idempotency.respond("key-3", b"{}", False, ctx("b"), lambda r: None, upstream.answer)
    assert upstream.calls == 2 and "idempotent-replayed" not in answer.headers


async def test_the_key_with_another_body_is_a_409(idempotency: Idempotency) -> None:
    upstream = Upstream()
    await idempotency.respond("key-4", b'{"a":1}', False, ctx("a"), lambda r: None, upstream.answer)
    with pytest.raises(Conflict):
        await idempotency.respond("key-4", b'{"a":2}', False, ctx("b"), lambda r: None, upstream.answer)
    assert upstream.calls == 1


async def test_a_streamed_retry_replays_the_answer_as_a_stream(idempotency: Idempotency) -> None:
    upstream = Upstream()
    await idempotency.respond("key-5", b"{}", False, ctx("a"), lambda r: None, upstream.answer)
    replay = await idempotency.respond("key-5", b"{}", True, ctx("b"), lambda r: None, upstream.answer)
    events = [chunk async for chunk in replay.body_iterator]
    assert events[-1] == b"data: [DONE]\n\n"
    text = "".join((orjson.loads(e[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
                   for e in events[:-1])
    assert text == "ok"


async def test_a_streamed_answer_is_replayed_with_the_route_its_first_chunk_named(idempotency: Idempotency) -> None:
    async def stream() -> Response:
        chunks = [{"id": "c", "choices": [{"index": 0, "delta": {"content": "ok"}}], "ragway": {"route": "r"}},
                  {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]

        async def events():
            for chunk in chunks:
                yield event(chunk)
            yield DONE

        return StreamingResponse(events(), media_type="text/event-stream")

    first = await idempotency.respond("key-6", b"{}", True, ctx("a"), lambda r: None, stream)
    assert [chunk async for chunk in first.body_iterator][-1] == DONE
    logged: list[RequestRecord] = []
    replay = await idempotency.respond("key-6", b"{}", True, ctx("b"), logged.append, stream)
    events = [orjson.loads(e[6:]) async for e in replay.body_iterator if e != DONE]
    assert events[0]["ragway"] == {"route": "r"} and [r.route for r in logged] == ["r"]
