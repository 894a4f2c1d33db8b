"""POST /v1/chat/completions.

A plain Starlette route, not a FastAPI one: the body is parsed and validated by
`read_json` anyway, and FastAPI's per-request dependency solving was a tenth of a
passthrough request's CPU in the profile (docs/benchmarks.md, "Profiles").
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.answer import answer_once
from gateway.api.intake import admit
from gateway.schemas import ChatCompletionRequest

router = APIRouter()


async def chat_completions(request: Request) -> Response:
    deps, ctx, body = await admit(request, ChatCompletionRequest)
    return await answer_once(request, deps, ctx, body)


router.add_route("/v1/chat/completions", chat_completions, methods=["POST"])
