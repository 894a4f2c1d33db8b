"""GET /v1/models and POST /v1/embeddings."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.errors import json_response
from gateway.deps import DepsDep
from gateway.errors import NotImplementedYet

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request, deps: DepsDep) -> Response:
    deps.auth.client(request.headers.get("authorization"))
    snapshot = deps.config.current
    routes = [
        {"id": name, "object": "model", "created": 0, "owned_by": "ragway-route",
         "ragway": {"task": r.config.task, "policy": r.config.policy.kind, "version": r.version}}
        for name, r in sorted(snapshot.routes.items())
    ]
    models = [
        {"id": name, "object": "model", "created": 0, "owned_by": "ragway-model"}
        for name in sorted(snapshot.gateway.models)
    ]
    return json_response({"object": "list", "data": routes + models})


@router.post("/v1/embeddings")
async def embeddings(request: Request, deps: DepsDep) -> Response:
    deps.auth.client(request.headers.get("authorization"))
    raise NotImplementedYet("embeddings are not served yet: the gateway's embedder lands with retrieval")
