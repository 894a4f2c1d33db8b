"""POST /v1/chat/completions.

A plain Starlette route, not a FastAPI one: the body is parsed and validated by
`read_json` anyway, and FastAPI's per-request dependency solving was a tenth of a
passthrough request's CPU in the profile (docs/benchmarks.md, "Profiles"). It sits
on the app's own router rather than in an included APIRouter: an included router
adds a nested match, scope bookkeeping and a body-limit wrapper to every request
(a no-op endpoint: 20 us through the framework that way, 14.5 us as a plain route).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.api.answer import answer_once
from gateway.api.intake import admit
from gateway.schemas import ChatCompletionRequest


async def chat_completions(request: Request) -> Response:
    deps, ctx, body = await admit(request, ChatCompletionRequest)
    return await answer_once(request, deps, ctx, body)


route = Route("/v1/chat/completions", chat_completions, methods=["POST"])
