"""How every endpoint starts: authenticate the key, read the body, and log what it refuses.

Refusals before the pipeline (a bad key, an oversized or invalid body, a conflicting Idempotency-Key)
are logged here and those inside it (an unknown route, unusable input, a budget) by the pipeline,
all through `ChatService.refuse`: one record per refused request. The admin endpoints' refusals
(a missing admin or metrics key, a bad `since`) are logged here too, under the route name `-`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import TracebackType
from typing import Annotated, Literal, TypeVar

from fastapi import Depends
from pydantic import BaseModel
from starlette.requests import Request

from gateway.api.body import read_json
from gateway.api.deps import Deps, deps_of
from gateway.errors import GatewayError, InvalidRequest
from gateway.pipeline.context import RequestContext
from gateway.wire_params import WireRefusal

M = TypeVar("M", bound=BaseModel)
# no route answers an admin endpoint: "-" keeps its refusals apart from a client's unknown route ("")
ADMIN_ROUTE = "-"


async def admit(request: Request, model: type[M]) -> tuple[Deps, RequestContext, M]:
    """The app's dependencies, the request's context with its key id, and the body validated as *model*."""
    deps, ctx = authenticate(request)
    with refusals(deps, ctx):
        body = await read_json(request, model, deps.config.current.gateway.server.max_body_bytes)
    return deps, ctx, body


def authenticate(request: Request) -> tuple[Deps, RequestContext]:
    """The app's dependencies and the request's context with the client key's id."""
    deps, ctx = deps_of(request), _context(request)
    with refusals(deps, ctx):
        return deps, ctx.keyed(deps.auth.client(request.headers.get("authorization")))


async def admin_key(request: Request) -> AsyncIterator[str]:
    """The admin key's id, for an endpoint that needs one; what the endpoint refuses is logged."""
    with _guarded(request, deps_of(request).auth.admin) as key_id:
        yield key_id


async def metrics_key(request: Request) -> AsyncIterator[str]:
    """The metrics (or admin) key's id, for /metrics and /dashboard; what they refuse is logged."""
    with _guarded(request, deps_of(request).auth.metrics) as key_id:
        yield key_id


AdminKey = Annotated[str, Depends(admin_key)]
MetricsKey = Annotated[str, Depends(metrics_key)]


@contextmanager
def _guarded(request: Request, check: Callable[[str | None], str]) -> Iterator[str]:
    """The id of the key *check* accepts; a refusal, the check's or the endpoint's, is logged with the endpoint."""
    deps, ctx = deps_of(request), _context(request)
    endpoint = f"{request.method} {request.url.path}"
    with refusals(deps, ctx, ADMIN_ROUTE, endpoint=endpoint):
        key_id = check(request.headers.get("authorization"))
    # a FastAPI dependency that yields sees the endpoint's exceptions here
    with refusals(deps, replace(ctx, key_id=key_id), ADMIN_ROUTE, endpoint=endpoint):
        yield key_id


def _context(request: Request) -> RequestContext:
    # the id RequestIdMiddleware put in the scope's state, read there: `request.state` wraps it in a new object
    return RequestContext(request_id=request.scope["state"]["request_id"], key_id="", headers=request.headers)


class refusals:  # lower case, like contextlib.suppress: it reads as a function in `with refusals(...)`
    """Log a refusal of one of *kinds* raised in the block, then let it go on to the error handlers.

    A field a wire model refuses becomes the 400 the client gets, so it is logged as that. A class, not a
    @contextmanager generator: every chat request enters two, and making the generator showed in the profile.
    """

    __slots__ = ("ctx", "deps", "endpoint", "kinds", "route")

    def __init__(self, deps: Deps, ctx: RequestContext, route: str = "",
                 kinds: tuple[type[GatewayError], ...] = (GatewayError,), endpoint: str = "") -> None:
        self.deps, self.ctx, self.route, self.kinds, self.endpoint = deps, ctx, route, kinds, endpoint

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if isinstance(exc, WireRefusal):
            error = InvalidRequest(exc.message, param=exc.param, code=exc.code)
            self.deps.service.refuse(self.ctx, error, self.route, self.endpoint)
            raise error from None
        if isinstance(exc, self.kinds):
            self.deps.service.refuse(self.ctx, exc, self.route, self.endpoint)
        return False  # the exception, if any, goes on
