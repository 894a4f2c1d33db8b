"""Liveness, readiness, the admin reload and the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import DepsDep
from gateway.api.errors import json_response
from gateway.api.intake import AdminKey, authenticate
from gateway.api.openapi import openapi_document

router = APIRouter()


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request, deps: DepsDep) -> Response:
    """Ready when every local model server answers. Only an admin key sees which servers, which routes,
    the last refused config edit (it names files) and the log store's health: a load balancer needs
    the status alone.

    A log store that is down does not make the gateway unready (requests are answered and their
    records spooled): `log.status` says `degraded` and how many records wait in the spool.
    """
    servers = {s.name: await s.is_ready() for s in deps.local_servers}
    ready = all(servers.values())
    body: dict = {"status": "ready" if ready else "starting"}
    if deps.auth.is_admin(request.headers.get("authorization")):
        unavailable = dict(getattr(deps.config.live.resources, "unavailable", {}))
        serving = sorted(name for name in deps.config.current.routes if name not in unavailable)
        body.update(local_servers=servers, routes=serving, unavailable_routes=unavailable,
                    config_error=deps.config.last_error, log=deps.usage.health())
    return json_response(body, 200 if ready else 503)


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request, deps: DepsDep) -> Response:
    """The API description; a client key is needed unless auth.public_docs is set."""
    if not deps.config.current.gateway.auth.public_docs:
        authenticate(request)
    return json_response(openapi_document(request.app))


@router.post("/admin/reload")
async def reload(deps: DepsDep, _key: AdminKey) -> Response:
    result = await deps.config.reload_soon()
    return json_response({"ok": result.ok, "message": result.message, "changed": list(result.changed)},
                         200 if result.ok else 400)
