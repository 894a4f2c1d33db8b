"""The chat answer behind every inference endpoint: plain or streamed, once per Idempotency-Key.

/v1/chat/completions sends it as it is; /v1/completions and /v1/responses turn their request into a
chat request and show the answer in their own `Shape`. The Idempotency-Key store keeps the chat
answer, so a retry on any of them is shown exactly as its first answer was.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.deps import Deps
from gateway.api.errors import json_response
from gateway.api.idempotency import Idempotency
from gateway.api.intake import refusals
from gateway.errors import Conflict
from gateway.pipeline.context import RequestContext
from gateway.schemas import ChatCompletionRequest

SSE = "text/event-stream"
# set again by the reshaped response for its own body
BODY_HEADERS = ("content-length", "content-type")


@dataclass(frozen=True)
class Shape:
    """How an endpoint shows a chat answer: the whole chat.completion, and its stream of SSE bytes."""

    body: Callable[[dict[str, Any]], dict[str, Any]]
    stream: Callable[[AsyncIterable[bytes]], AsyncIterator[bytes]]


async def answer_once(request: Request, deps: Deps, ctx: RequestContext, chat: ChatCompletionRequest,
                      shape: Shape | None = None) -> Response:
    """The route's answer to *chat* in *shape* (chat's own when None); with an Idempotency-Key, every
    retry of the request gets the first attempt's answer."""
    idem_key = request.headers.get("idempotency-key")
    if idem_key is None:
        return await answer(deps, chat, ctx, shape)
    with refusals(deps, ctx):
        Idempotency.check(idem_key)
    # the endpoint is part of the request: the same key and body sent to another endpoint is a conflict
    raw = request.url.path.encode() + b"\0" + await request.body()
    # only the conflict is refused here: the pipeline logs its own refusals and failures
    with refusals(deps, ctx, chat.model, kinds=(Conflict,)):
        response = await deps.idempotency.respond(idem_key, raw, chat.stream, ctx, deps.usage.record,
                                                  lambda: answer(deps, chat, ctx))
    return response if shape is None else reshape(response, shape)


async def answer(deps: Deps, chat: ChatCompletionRequest, ctx: RequestContext, shape: Shape | None = None) -> Response:
    """The route's answer to a parsed chat request, plain or streamed, in *shape* (chat's own when None)."""
    if chat.stream:
        events, headers = await deps.service.open_stream(chat, ctx)
        shown = events if shape is None else shape.stream(events)
        return StreamingResponse(shown, media_type=SSE, headers=headers)
    body, headers = await deps.service.complete(chat, ctx)
    return json_response(body if shape is None else shape.body(body), headers=headers)


def reshape(response: Response, shape: Shape) -> Response:
    """A chat answer (the first attempt's or its replay) in *shape*, with its status and headers."""
    headers = {name: value for name, value in response.headers.items() if name not in BODY_HEADERS}
    if isinstance(response, StreamingResponse):
        # the service's streams and the replays yield bytes; starlette types the iterator more widely
        events = cast(AsyncIterable[bytes], response.body_iterator)
        return StreamingResponse(shape.stream(events), response.status_code, headers, media_type=SSE)
    return json_response(shape.body(orjson.loads(response.body)), response.status_code, headers)
