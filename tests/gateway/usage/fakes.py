"""Typed stand-ins for the lead's app Deps, to mount the logs router in a small FastAPI app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gateway.api.logs import router
from gateway.errors import GatewayError, Unauthorized
from gateway.usage.writer import NullRecorder, UsageRecorder

ADMIN_KEY = "admin-secret"


class FakeAdminAuth:
    """Accepts exactly `Authorization: Bearer admin-secret`."""

    def require_admin(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {ADMIN_KEY}":
            raise Unauthorized("an admin key is required")


@dataclass
class FakeDeps:
    usage: UsageRecorder | NullRecorder
    auth: FakeAdminAuth


def fake_app(usage: UsageRecorder | NullRecorder) -> FastAPI:
    app = FastAPI()
    app.state.deps = FakeDeps(usage=usage, auth=FakeAdminAuth())
    app.include_router(router)

    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    return app
