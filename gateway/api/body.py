"""Read and validate a JSON request body with the gateway's own error model."""

from __future__ import annotations

from typing import TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from gateway.api.errors import invalid_from_validation
from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.wire_params import WireRefusal

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk and refused as soon as it passes *limit*, chunked or not:
    a client cannot make the gateway hold more than *limit* bytes of its body."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        parts.append(chunk)
    raw = b"".join(parts)
    request._body = raw  # so a later request.body() (idempotency's fingerprint) reads it again
    return raw


async def read_json(request: Request, model: type[M], limit: int) -> M:
    """Body size checked while reading; malformed JSON and bad fields are 400s."""
    raw = await read_body(request, limit)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from_validation(exc) from None
    except WireRefusal as exc:
        raise InvalidRequest(exc.message, param=exc.param, code=exc.code) from None
