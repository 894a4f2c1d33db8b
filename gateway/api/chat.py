"""POST /v1/chat/completions.

A plain Starlette route, not a FastAPI one: the body is parsed and validated by
`read_json` anyway, and FastAPI's per-request dependency solving was a tenth of a
passthrough request's CPU in the profile (docs/benchmarks.md, "Profiles").
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.deps import Deps
from gateway.api.errors import json_response
from gateway.api.idempotency import Idempotency
from gateway.api.intake import admit, refusals
from gateway.errors import Conflict
from gateway.pipeline.context import RequestContext
from gateway.schemas import ChatCompletionRequest

router = APIRouter()


async def chat_completions(request: Request) -> Response:
    deps, ctx, body = await admit(request, ChatCompletionRequest)
    idem_key = request.headers.get("idempotency-key")
    if idem_key is None:
        return await answer(deps, body, ctx)
    with refusals(deps, ctx):
        Idempotency.check(idem_key)
    # only the conflict is refused here: the pipeline logs its own refusals and failures
    with refusals(deps, ctx, body.model, kinds=(Conflict,)):
        return await deps.idempotency.respond(idem_key, await request.body(), body.stream, ctx, deps.usage.record,
                                              lambda: answer(deps, body, ctx))


async def answer(deps: Deps, body: ChatCompletionRequest, ctx: RequestContext) -> Response:
    """The route's answer to a parsed chat request, plain or streamed."""
    if body.stream:
        events, headers = await deps.service.open_stream(body, ctx)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    answer, headers = await deps.service.complete(body, ctx)
    return json_response(answer, headers=headers)


router.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
