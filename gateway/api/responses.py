"""POST /v1/responses: the OpenAI Responses API, answered by the same routes as chat completions.

A plain Starlette route like chat's; the mapping both ways lives in responses_wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.errors import json_response
from gateway.api.intake import admit, refusals
from gateway.api.responses_wire import ResponsesRequest, StreamTranslator, from_chat, to_chat
from gateway.sse import DONE

router = APIRouter()


async def create_response(request: Request) -> Response:
    deps, ctx, body = await admit(request, ResponsesRequest)
    with refusals(deps, ctx):
        chat = to_chat(body)
    if not body.stream:
        answer, headers = await deps.service.complete(chat, ctx)
        return json_response(from_chat(body, answer), headers=headers)
    events, headers = await deps.service.open_stream(chat, ctx)
    return StreamingResponse(_translate(body, events), media_type="text/event-stream", headers=headers)


async def _translate(req: ResponsesRequest, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Chat SSE bytes from the service in, Responses SSE events out."""
    translator = StreamTranslator(req)
    for item in translator.start():
        yield _sse(item)
    failed = False
    async for raw in events:  # read to the end: the service logs the request when its stream ends
        if raw == DONE or failed:
            continue
        chunk = orjson.loads(raw[len(b"data: "):])
        if "error" in chunk and "choices" not in chunk:
            failed = True
            yield _sse(translator.error(chunk["error"]))
            continue
        for item in translator.feed(chunk):
            yield _sse(item)
    if not failed:
        for item in translator.finish_events():
            yield _sse(item)


def _sse(item: dict[str, Any]) -> bytes:
    return b"event: " + item["type"].encode() + b"\ndata: " + orjson.dumps(item) + b"\n\n"


router.add_route("/v1/responses", create_response, methods=["POST"])
