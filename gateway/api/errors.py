"""The four exception handlers: every failure leaves as OpenAI error JSON."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from gateway.errors import GatewayError, InvalidRequest, error_body
from gateway.wire_params import WireRefusal

log = logging.getLogger("ragway.api")

STATUS_CODES = {401: "invalid_api_key", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def json_response(body: dict, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def invalid_from_validation(exc: ValidationError | RequestValidationError) -> InvalidRequest:
    """A 400 naming the first offending field, as `messages.0.role`."""
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"] if part not in ("body",)]
    param = ".".join(loc) or None
    message = f"{param}: {first['msg']}" if param else first["msg"]
    return InvalidRequest(message, param=param, code="invalid_value" if param else "invalid_request")


def _request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "")


# Basic lets a browser ask for the key when it opens /dashboard; API clients send Bearer.
CHALLENGE = 'Bearer realm="ragway", Basic realm="ragway"'


async def gateway_error(request: Request, exc: GatewayError) -> Response:
    headers = {**exc.headers, "x-request-id": _request_id(request)}
    if exc.status == 401:
        headers["www-authenticate"] = CHALLENGE
    return json_response(exc.body(), exc.status, headers)


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    return await gateway_error(request, invalid_from_validation(exc))


async def http_error(request: Request, exc: HTTPException) -> Response:
    code = STATUS_CODES.get(exc.status_code, "http_error")
    body = error_body(str(exc.detail), "invalid_request_error", code)
    return json_response(body, exc.status_code, {"x-request-id": _request_id(request)})


async def unexpected_error(request: Request, exc: Exception) -> Response:
    request_id = _request_id(request)
    if isinstance(exc, ClientDisconnect):
        # the client went away mid-body: nobody reads this answer, and it is not a server fault
        return Response(status_code=499)
    log.exception("unhandled error in request %s", request_id)
    body = error_body(f"internal error (request id {request_id})", "server_error", "internal_error")
    return json_response(body, 500, {"x-request-id": request_id})


async def wire_refusal(request: Request, exc: WireRefusal) -> Response:
    """A refused field from any wire model (e.g. /v1/completions converting to a chat request)."""
    return await gateway_error(request, InvalidRequest(exc.message, param=exc.param, code=exc.code))


def install(app: FastAPI) -> None:
    # starlette types handlers as taking any Exception; each of these is only called with its own class
    app.add_exception_handler(GatewayError, gateway_error)  # type: ignore[arg-type]
    app.add_exception_handler(WireRefusal, wire_refusal)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected_error)
