"""`refusals`: what a block raises is logged once as the refusal the client gets, then goes on unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pytest

from gateway.api.deps import Deps
from gateway.api.intake import refusals
from gateway.errors import Conflict, GatewayError, InvalidRequest, Unauthorized
from gateway.pipeline.context import RequestContext
from gateway.wire_params import WireRefusal

CTX = RequestContext(request_id="req", key_id="key")


@dataclass
class RefusalLog:
    refused: list[tuple[RequestContext, GatewayError, str, str]] = field(default_factory=list)

    def refuse(self, ctx: RequestContext, error: GatewayError, route: str = "", endpoint: str = "") -> None:
        self.refused.append((ctx, error, route, endpoint))


@dataclass
class FakeDeps:
    service: RefusalLog = field(default_factory=RefusalLog)


def test_a_gateway_error_is_logged_with_its_route_and_endpoint_and_raised_as_it_is() -> None:
    deps = FakeDeps()
    error = Unauthorized("invalid API key")

    with pytest.raises(Unauthorized) as raised, refusals(cast(Deps, deps), CTX, "chat", endpoint="GET /x"):
        raise error

    assert raised.value is error
    assert deps.service.refused == [(CTX, error, "chat", "GET /x")]


def test_a_refused_wire_field_becomes_the_invalid_request_it_is_logged_as() -> None:
    deps = FakeDeps()

    with pytest.raises(InvalidRequest) as raised, refusals(cast(Deps, deps), CTX):
        raise WireRefusal("'api_base' may not be sent", "api_base", "forbidden_parameter")

    assert (raised.value.param, raised.value.code) == ("api_base", "forbidden_parameter")
    assert raised.value.__suppress_context__
    assert deps.service.refused == [(CTX, raised.value, "", "")]


def test_other_kinds_and_other_exceptions_pass_unlogged() -> None:
    deps = FakeDeps()

    with pytest.raises(Unauthorized), refusals(cast(Deps, deps), CTX, kinds=(Conflict,)):
        raise Unauthorized("invalid API key")
    with pytest.raises(KeyError), refusals(cast(Deps, deps), CTX):
        raise KeyError("x")
    with refusals(cast(Deps, deps), CTX):
        pass

    assert deps.service.refused == []
