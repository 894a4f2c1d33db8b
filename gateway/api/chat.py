"""POST /v1/chat/completions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from gateway.api.body import read_json
from gateway.api.errors import json_response
from gateway.context import RequestContext
from gateway.deps import DepsDep
from gateway.schemas import ChatCompletionRequest

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, deps: DepsDep) -> Response:
    key_id = deps.auth.client(request.headers.get("authorization"))
    limit = deps.config.current.gateway.server.max_body_bytes
    body = await read_json(request, ChatCompletionRequest, limit)
    ctx = RequestContext(request_id=request.state.request_id, key_id=key_id, headers=request.headers)
    if body.stream:
        events, headers = await deps.service.open_stream(body, ctx)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    answer, headers = await deps.service.complete(body, ctx)
    return json_response(answer, headers=headers)
