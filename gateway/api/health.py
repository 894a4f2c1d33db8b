"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.deps import DepsDep
from gateway.api.errors import json_response

router = APIRouter()


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(deps: DepsDep) -> Response:
    """Ready when every local model server answers; reports the last refused config edit.

    A log store that is down does not make the gateway unready (requests are answered and their
    records spooled): `log.status` says `degraded` and how many records wait in the spool.
    """
    servers = {s.name: await s.is_ready() for s in deps.local_servers}
    ready = all(servers.values())
    unavailable = dict(getattr(deps.config.live.resources, "unavailable", {}))
    serving = sorted(name for name in deps.config.current.routes if name not in unavailable)
    body = {"status": "ready" if ready else "starting", "local_servers": servers,
            "routes": serving, "unavailable_routes": unavailable, "config_error": deps.config.last_error,
            "log": deps.usage.health()}
    return json_response(body, 200 if ready else 503)


@router.post("/admin/reload")
async def reload(request: Request, deps: DepsDep) -> Response:
    deps.auth.admin(request.headers.get("authorization"))
    result = await deps.config.reload_soon()
    return json_response({"ok": result.ok, "message": result.message, "changed": list(result.changed)},
                         200 if result.ok else 400)
