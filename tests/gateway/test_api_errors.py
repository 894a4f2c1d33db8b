"""Every bad input gets the OpenAI error shape with the right status, code and param."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


def post(url: str, content: bytes | str, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", content=content, timeout=30,
                      headers={"content-type": "application/json", **(headers or {})})


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["code"], str)
    return body["error"]


def test_malformed_json_is_400(gateway_url: str) -> None:
    response = post(gateway_url, b"{not json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"


def test_body_not_an_object_is_400(gateway_url: str) -> None:
    response = post(gateway_url, b"[1, 2]")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ('{"messages": [{"role": "user", "content": "x"}]}', "model"),
        ('{"model": "chat"}', "messages"),
        ('{"model": "chat", "messages": []}', "messages"),
        ('{"model": "chat", "messages": [{"role": "wizard", "content": "x"}]}', "messages.0.role"),
        ('{"model": "chat", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', "temperature"),
        ('{"model": "chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "max_tokens"),
    ],
)
def test_missing_or_ill_typed_field_names_the_param(gateway_url: str, body: str, param: str) -> None:
    response = post(gateway_url, body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_oversized_body_is_413(gateway_url: str) -> None:
    big = '{"model": "chat", "messages": [{"role": "user", "content": "' + "x" * 70_000 + '"}]}'
    response = post(gateway_url, big)
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_unknown_path_is_openai_shaped_404(gateway_url: str) -> None:
    response = httpx.get(f"{gateway_url}/v1/nothing-here", timeout=10)
    assert response.status_code == 404
    error_of(response)


def test_embeddings_bad_inputs(gateway_url: str) -> None:
    url = f"{gateway_url}/v1/embeddings"
    empty = httpx.post(url, json={"model": "x", "input": "  "}, timeout=30)
    assert empty.status_code == 400 and error_of(empty)["param"] == "input"
    none = httpx.post(url, json={"model": "x", "input": []}, timeout=30)
    assert none.status_code == 400
    dims = httpx.post(url, json={"model": "x", "input": "hi", "dimensions": 12}, timeout=30)
    assert dims.status_code == 400 and error_of(dims)["param"] == "dimensions"


def test_health_and_ready(gateway_url: str) -> None:
    assert httpx.get(f"{gateway_url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{gateway_url}/readyz", timeout=10)
    assert ready.status_code == 200 and "chat" in ready.json()["routes"]
