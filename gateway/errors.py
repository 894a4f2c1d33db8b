"""The gateway's exception tree, and how each error renders on the wire.

    GatewayError                 500 internal_error
    ├── InvalidRequest           400 invalid_request_error
    ├── Unauthorized             401 authentication_error
    ├── ModelNotFound            404 model_not_found
    ├── Conflict                 409 idempotency_conflict
    ├── PayloadTooLarge          413 payload_too_large
    ├── RateLimited              429 rate_limit_exceeded
    │   └── QuotaExceeded        429 insufficient_quota
    ├── ServiceUnavailable       503 service_unavailable
    ├── UpstreamError            502 upstream_error
    │   └── UpstreamBadStream    502 upstream_bad_stream
    └── UpstreamTimeout          504 upstream_timeout

Every error becomes one body, the OpenAI shape:
``{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}``.
`message` is public; `detail` (an upstream's or library's own words) goes only to the server log.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error the gateway reports to a client."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        # sent with the error response (a refusal's Retry-After and x-ratelimit-* headers)
        self.headers = headers or {}
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]

    def body(self) -> dict[str, Any]:
        """The OpenAI error JSON for this error."""
        return error_body(self.message, self.type, self.code, self.param)


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class Unauthorized(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class Conflict(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "idempotency_conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class QuotaExceeded(RateLimited):
    """A spend budget that this request's worst-case cost would exceed."""

    type = "insufficient_quota"
    code = "insufficient_quota"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "service_unavailable"


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"


class UpstreamBadStream(UpstreamError):
    """A stream the upstream answered 200 for that is empty or not server-sent events."""

    code = "upstream_bad_stream"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "upstream_error"
    code = "upstream_timeout"


class ConfigError(Exception):
    """A config file that does not validate; the message names file, line and key."""


def error_body(message: str, type_: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
