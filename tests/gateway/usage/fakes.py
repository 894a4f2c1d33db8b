"""Typed stand-ins for the lead's app Deps, to mount the logs router in a small FastAPI app."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.api.logs import AdminCheck, router
from gateway.api.request_id import RequestIdMiddleware
from gateway.config.limits import LimitsConfig
from gateway.errors import GatewayError, Unauthorized
from gateway.pipeline.context import RequestContext
from gateway.usage.writer import NullRecorder, UsageRecorder

ADMIN_KEY = "admin-secret"


@dataclass
class FakeAdminAuth:
    """Like gateway.api.auth.Authenticator: accepts exactly `Authorization: Bearer admin-secret`.

    `open` lets /metrics and /dashboard through without a key, like an open gateway without admin keys.
    """

    open: bool = False

    def admin(self, authorization: str | None) -> str:
        if authorization != f"Bearer {ADMIN_KEY}":
            raise Unauthorized("an admin key is required")
        return "ADMIN_KEY"

    def metrics(self, authorization: str | None) -> str:
        return "open" if self.open and authorization is None else self.admin(authorization)


@dataclass
class FakeRefusals:
    """Like ChatService.refuse: keeps (route, endpoint, status) of each refused request instead of logging it."""

    refused: list[tuple[str, str, int]] = field(default_factory=list)

    def refuse(self, ctx: RequestContext, error: GatewayError, route: str = "", endpoint: str = "") -> None:
        self.refused.append((route, endpoint, error.status))


@dataclass
class FakeDeps:
    usage: UsageRecorder | NullRecorder
    auth: AdminCheck
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    service: FakeRefusals = field(default_factory=FakeRefusals)


def fake_app(usage: UsageRecorder | NullRecorder, auth: AdminCheck | None = None) -> FastAPI:
    app = FastAPI()
    app.state.deps = FakeDeps(usage=usage, auth=auth or FakeAdminAuth())
    app.include_router(router)
    app.add_middleware(RequestIdMiddleware)

    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    return app
