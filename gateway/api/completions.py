"""POST /v1/completions: the legacy completions API, answered by a route as one user turn.

The prompt becomes the user message of a chat request for the same route (so the route's
system prompt, retrieval, cache and policy apply), and the answer is mapped back to
`text_completion` objects, plain or streamed. An Idempotency-Key is honoured as on chat.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.answer import Shape, answer_once
from gateway.api.intake import admit, refusals
from gateway.errors import InvalidRequest
from gateway.schemas import ChatCompletionRequest, StreamOptions, Wire
from gateway.sse import DONE, event

router = APIRouter()
UNSUPPORTED = ("suffix", "echo", "logprobs", "best_of")


class CompletionRequest(Wire):
    model: str = Field(min_length=1)
    prompt: str | list[str]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(None, ge=1, le=1)
    user: str | None = None

    def to_chat(self) -> ChatCompletionRequest:
        extra = self.model_extra or {}
        for name in UNSUPPORTED:
            if extra.get(name) not in (None, False, 0, ""):
                raise InvalidRequest(f"'{name}' is not supported on /v1/completions", param=name)
        prompts = [self.prompt] if isinstance(self.prompt, str) else self.prompt
        if len(prompts) != 1:
            raise InvalidRequest("send one prompt per request", param="prompt")
        fields = self.model_dump(exclude_none=True, exclude={"prompt", *UNSUPPORTED})
        return ChatCompletionRequest.model_validate({**fields, "messages": [{"role": "user", "content": prompts[0]}]})


async def completions(request: Request) -> Response:
    deps, ctx, body = await admit(request, CompletionRequest)
    with refusals(deps, ctx):
        chat = body.to_chat()
    shape = Shape(lambda answer: text_completion(answer, chat.model), lambda events: _translate(events, chat.model))
    return await answer_once(request, deps, ctx, chat, shape)


def text_completion(body: dict[str, Any], model: str) -> dict[str, Any]:
    """A chat.completion (or chunk) as a text_completion: the message text (or delta) as `text`."""
    choices = [{"text": (c.get("message") or c.get("delta") or {}).get("content") or "", "index": c.get("index", 0),
                "logprobs": None, "finish_reason": c.get("finish_reason")} for c in body.get("choices") or ()]
    out = {"id": str(body.get("id", "")).replace("chatcmpl", "cmpl", 1), "object": "text_completion",
           "created": body.get("created"), "model": model, "choices": choices}
    for key in ("usage", "ragway"):
        if body.get(key):
            out[key] = body[key]
    return out


async def _translate(events: AsyncIterable[bytes], model: str) -> AsyncIterator[bytes]:
    async for raw in events:
        if raw == DONE:
            yield raw
            continue
        chunk = orjson.loads(raw[len(b"data: "):])
        yield raw if "error" in chunk and "choices" not in chunk else event(text_completion(chunk, model))


router.add_route("/v1/completions", completions, methods=["POST"])
