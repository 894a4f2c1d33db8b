"""POST /v1/responses: the OpenAI Responses API, answered by the same routes as chat completions.

A plain Starlette route like chat's, honouring an Idempotency-Key the same way; the mapping both
ways lives in responses_wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.answer import Shape, answer_once
from gateway.api.intake import admit, refusals
from gateway.api.responses_wire import ResponsesRequest, StreamTranslator, from_chat, to_chat
from gateway.sse import DONE

router = APIRouter()


async def create_response(request: Request) -> Response:
    deps, ctx, body = await admit(request, ResponsesRequest)
    with refusals(deps, ctx):
        chat = to_chat(body)
    shape = Shape(lambda answer: from_chat(body, answer), lambda events: _translate(body, events))
    return await answer_once(request, deps, ctx, chat, shape)


async def _translate(req: ResponsesRequest, events: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Chat SSE bytes from the service in, Responses SSE events out."""
    translator = StreamTranslator(req)
    failed = False
    async for raw in events:  # read to the end: the service logs the request when its stream ends
        if raw == DONE or failed:
            continue
        chunk = orjson.loads(raw[len(b"data: "):])
        if "error" in chunk and "choices" not in chunk:
            failed = True
            for item in translator.error(chunk["error"]):
                yield _sse(item)
            continue
        for item in translator.feed(chunk):
            yield _sse(item)
    if not failed:
        for item in translator.finish_events():
            yield _sse(item)


def _sse(item: dict[str, Any]) -> bytes:
    return b"event: " + item["type"].encode() + b"\ndata: " + orjson.dumps(item) + b"\n\n"


router.add_route("/v1/responses", create_response, methods=["POST"])
