"""POST /v1/chat/completions.

A plain Starlette route, not a FastAPI one: the body is parsed and validated by
`read_json` anyway, and FastAPI's per-request dependency solving was a tenth of a
passthrough request's CPU in the profile (docs/benchmarks.md, "Profiles").
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.api.body import read_json
from gateway.api.deps import deps_of
from gateway.api.errors import json_response
from gateway.errors import GatewayError
from gateway.pipeline.context import RequestContext
from gateway.schemas import ChatCompletionRequest

router = APIRouter()


async def chat_completions(request: Request) -> Response:
    deps = deps_of(request)
    ctx = RequestContext(request_id=request.state.request_id, key_id="", headers=request.headers)
    try:
        ctx.key_id = deps.auth.client(request.headers.get("authorization"))
        limit = deps.config.current.gateway.server.max_body_bytes
        body = await read_json(request, ChatCompletionRequest, limit)
    except GatewayError as exc:
        deps.service.refuse(ctx, exc)
        raise
    try:
        if body.stream:
            events, headers = await deps.service.open_stream(body, ctx)
            return StreamingResponse(events, media_type="text/event-stream", headers=headers)
        answer, headers = await deps.service.complete(body, ctx)
    except GatewayError:
        raise
    except Exception:
        # a fault of ours still leaves its line in the request log; the 500 handler logs the traceback
        deps.service.refuse(ctx, GatewayError("internal error"), body.model)
        raise
    return json_response(answer, headers=headers)


router.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
