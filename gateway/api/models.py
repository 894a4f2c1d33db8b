"""GET /v1/models and POST /v1/embeddings."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.errors import json_response
from gateway.api.intake import admit, authenticate, refusals
from gateway.errors import InvalidRequest
from gateway.schemas import EmbeddingRequest
from retrieval.batching import MicroBatcher

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    deps, _ = authenticate(request)
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
async def embeddings(request: Request) -> Response:
    """The gateway's own embedder; `model` is echoed, the configured embedder always answers."""
    deps, ctx, body = await admit(request, EmbeddingRequest)
    gateway = deps.config.current.gateway
    texts = [body.input] if isinstance(body.input, str) else body.input
    limits = gateway.embedder
    with refusals(deps, ctx):
        _check_inputs(texts, limits.max_input_chars, limits.max_inputs)
        counts = await asyncio.to_thread(deps.tokens.count, texts)
        _check_tokens(counts, limits.max_input_tokens)
        if body.dimensions is not None and body.dimensions != deps.batcher.embedder.dim:
            raise InvalidRequest(f"dimensions must be {deps.batcher.embedder.dim} for this embedder",
                                 param="dimensions")
    vectors = await embed_in_slices(deps.batcher, texts, gateway.embedder.request_slice)
    data = [{"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
            for i, v in enumerate(vectors)]
    tokens = sum(counts)
    return json_response({"object": "list", "data": data, "model": body.model,
                          "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


async def embed_in_slices(batcher: MicroBatcher, texts: list[str], size: int) -> list:
    """Vectors for *texts*, queued *size* at a time: the batcher serves its queue in order, so a chat
    request's text waits behind at most one slice, never behind thousands of texts."""
    vectors: list = []
    for start in range(0, len(texts), size):
        vectors += await asyncio.gather(*(batcher.embed(text) for text in texts[start:start + size]))
    return vectors


def _check_inputs(texts: list[str], max_chars: int, max_inputs: int) -> None:
    if not texts or len(texts) > max_inputs:
        raise InvalidRequest(f"input must hold 1 to {max_inputs} texts", param="input",
                             code="too_many_inputs" if texts else "invalid_value")
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidRequest(f"input[{i}] is empty", param="input")
        if len(text) > max_chars:
            raise InvalidRequest(f"input[{i}] has {len(text)} characters; at most {max_chars}", param="input",
                                 code="input_too_long")


def _check_tokens(counts: list[int], max_tokens: int) -> None:
    for i, count in enumerate(counts):
        if count > max_tokens:
            raise InvalidRequest(f"input[{i}] has {count} tokens; at most {max_tokens}", param="input",
                                 code="input_too_long")


def _encode(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode()
    return [float(x) for x in vector]
