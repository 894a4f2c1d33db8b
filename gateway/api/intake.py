"""How every inference endpoint starts: authenticate the key, read the body, and log what it refuses.

Refusals before the pipeline (a bad key, an oversized or invalid body, a conflicting Idempotency-Key)
are logged here and those inside it (an unknown route, unusable input, a budget) by the pipeline,
all through `ChatService.refuse`: one record per refused request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from gateway.api.body import read_json
from gateway.api.deps import Deps, deps_of
from gateway.errors import GatewayError, InvalidRequest
from gateway.pipeline.context import RequestContext
from gateway.wire_params import WireRefusal

M = TypeVar("M", bound=BaseModel)


async def admit(request: Request, model: type[M]) -> tuple[Deps, RequestContext, M]:
    """The app's dependencies, the request's context with its key id, and the body validated as *model*."""
    deps, ctx = authenticate(request)
    with refusals(deps, ctx):
        body = await read_json(request, model, deps.config.current.gateway.server.max_body_bytes)
    return deps, ctx, body


def authenticate(request: Request) -> tuple[Deps, RequestContext]:
    """The app's dependencies and the request's context with the client key's id."""
    deps = deps_of(request)
    ctx = RequestContext(request_id=request.state.request_id, key_id="", headers=request.headers)
    with refusals(deps, ctx):
        return deps, replace(ctx, key_id=deps.auth.client(request.headers.get("authorization")))


@contextmanager
def refusals(deps: Deps, ctx: RequestContext, route: str = "",
             kinds: tuple[type[GatewayError], ...] = (GatewayError,)) -> Iterator[None]:
    """Log a refusal of one of *kinds* raised in the block, then let it go on to the error handlers.

    A field a wire model refuses becomes the 400 the client gets, so it is logged as that.
    """
    try:
        yield
    except WireRefusal as exc:
        error = InvalidRequest(exc.message, param=exc.param, code=exc.code)
        deps.service.refuse(ctx, error, route)
        raise error from None
    except kinds as exc:
        deps.service.refuse(ctx, exc, route)
        raise
