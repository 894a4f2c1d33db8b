"""The upstream-parameter allowlist: litellm's own keywords are all classified, routes cannot widen it."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError

from gateway.config.route import RouteConfig
from gateway.schemas import ChatCompletionRequest
from gateway.wire_params import OPENAI_CHAT_PARAMS, WireRefusal, is_steering

# Model parameters of one vendor or another: not steering, forwarded only when a route lists them.
VENDOR_PARAMS = {"thinking", "include_server_side_tool_invocations", "store"}


def test_every_litellm_keyword_is_forwarded_steering_or_a_known_vendor_param() -> None:
    import litellm

    names = set(inspect.signature(litellm.acompletion).parameters) - {"model", "messages"}
    unclassified = sorted(n for n in names if n not in OPENAI_CHAT_PARAMS and not is_steering(n)
                          and n not in VENDOR_PARAMS)
    assert unclassified == []


def test_no_openai_parameter_counts_as_steering() -> None:
    assert [name for name in OPENAI_CHAT_PARAMS if is_steering(name)] == []


@pytest.mark.parametrize("field", ["api_base", "base_url", "mock_response", "litellm_anything", "_private",
                                   "aws_secret_access_key", "vertex_credentials"])
def test_steering_fields_are_refused_at_the_schema(field: str) -> None:
    with pytest.raises(WireRefusal) as info:
        ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                              field: "http://attacker"})
    assert info.value.param == field


def test_unknown_fields_are_dropped_or_refused() -> None:
    req = ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                                "temperature": 0, "foo": 1, "bar": 2, "metadata": {"a": "b"}})
    assert req.upstream_params() == {"temperature": 0, "stream": False}
    assert req.upstream_params(frozenset({"foo"})) == {"temperature": 0, "stream": False, "foo": 1}
    assert req.sorted_params(frozenset({"foo"}))[1] == ["bar"]


@pytest.mark.parametrize("name", ["api_base", "extra_headers", "model", "litellm_params"])
def test_a_route_cannot_pass_steering_fields_through(name: str) -> None:
    with pytest.raises(ValidationError, match="passthrough_params"):
        RouteConfig.model_validate({"targets": {"large": {"model": "x"}}, "passthrough_params": [name]})


def test_sorted_params_is_the_forwarded_and_the_unknown_from_one_dump() -> None:
    req = ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                                "temperature": 0, "foo": 1, "bar": 2, "baz": None,
                                                "metadata": {"a": "b"}})
    passthrough = frozenset({"foo"})
    assert req.sorted_params(passthrough) == ({"temperature": 0, "stream": False, "foo": 1}, ["bar"])
    assert req.sorted_params(passthrough)[0] == req.upstream_params(passthrough)
