"""End to end: the official openai client -> gateway process -> real llama.cpp SmolLM2 server."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import openai
import pytest
from openai import OpenAI

pytestmark = pytest.mark.slow


@pytest.fixture
def client(gateway_url: str) -> OpenAI:
    return OpenAI(base_url=f"{gateway_url}/v1", api_key="unused-in-open-mode", max_retries=0)


def test_completion_through_route(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=12, temperature=0
    )
    completion = raw.parse()
    assert completion.choices[0].message.content.strip()
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert raw.headers["x-ragway-route"] == "chat"
    assert raw.headers["x-ragway-target"] == "large"
    assert raw.headers["x-ragway-model"] == "smollm2"
    assert raw.headers["x-request-id"]
    meta = completion.model_extra["ragway"]
    assert meta["route"] == "chat" and meta["model"] == "smollm2" and meta["reason"].startswith("fixed")


def test_system_prompt_reaches_the_model(client: OpenAI) -> None:
    """The route sends its system prompt first: the same prompt as a client sending it itself."""
    user = {"role": "user", "content": "Hi"}
    with_route = client.chat.completions.create(model="chat", messages=[user], max_tokens=2)
    by_hand = client.chat.completions.create(
        model="smollm2", messages=[{"role": "system", "content": "You are a concise assistant."}, user], max_tokens=2
    )
    bare = client.chat.completions.create(model="smollm2", messages=[user], max_tokens=2)
    assert with_route.usage.prompt_tokens == by_hand.usage.prompt_tokens
    assert with_route.usage.prompt_tokens != bare.usage.prompt_tokens


def test_streaming_with_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Count to three."}], stream=True,
        stream_options={"include_usage": True}, max_tokens=16,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert chunks[0].model_extra["ragway"]["route"] == "chat"


def test_streaming_without_usage_sends_no_usage_chunk(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Say hi."}], stream=True, max_tokens=8
    )
    chunks = list(stream)
    assert chunks and all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_client_parameters_are_accepted(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Reply with one word."}],
        temperature=0, top_p=0.9, max_completion_tokens=6, stop=["\n\n"], seed=7, user="u-1",
        metadata={"team": "a"}, extra_body={"vendor_extra": True},
    )
    assert completion.choices[0].finish_reason in ("stop", "length")


def test_models_lists_routes_and_models(client: OpenAI) -> None:
    ids = {m.id: m.owned_by for m in client.models.list()}
    assert ids["chat"] == "ragway-route" and ids["smollm2"] == "ragway-model"


def test_request_id_is_echoed(gateway_url: str) -> None:
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions", headers={"x-request-id": "abc-123"},
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "abc-123"


def test_unknown_route_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["code"] == "model_not_found"
    assert info.value.body["param"] == "model"


def test_upstream_down_is_502(client: OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="dead", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_error"


def test_upstream_timeout_is_504(client: OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="slow", messages=[{"role": "user", "content": "Write a long story."}])
    assert info.value.status_code == 504
    assert info.value.body["code"] == "upstream_timeout"


def test_upstream_down_before_stream_is_an_http_error(client: OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        list(client.chat.completions.create(model="dead", messages=[{"role": "user", "content": "x"}], stream=True))
    assert info.value.status_code == 502


def test_litellm_provider_path(client: OpenAI) -> None:
    """A model forced through litellm answers the same wire format, plain and streamed."""
    completion = client.chat.completions.create(model="via-litellm", messages=[{"role": "user", "content": "Hi"}],
                                                max_tokens=6)
    assert completion.choices[0].message.content
    assert completion.usage.completion_tokens > 0
    chunks = list(client.chat.completions.create(model="via-litellm", stream=True, max_tokens=6,
                                                 messages=[{"role": "user", "content": "Hi"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_embeddings_from_the_gateways_embedder(client: OpenAI) -> None:
    result = client.embeddings.create(model="any", input=["my card has not arrived", "where is my card?", "hello"])
    vectors = [item.embedding for item in result.data]
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert abs(dot(vectors[0], vectors[0]) - 1) < 1e-3
    assert dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2])
    as_base64 = client.embeddings.create(model="any", input="hello", encoding_format="base64")
    decoded = np.frombuffer(base64.b64decode(as_base64.data[0].embedding), dtype=np.float32)
    assert decoded.shape == (384,) and np.allclose(decoded, vectors[2], atol=1e-6)
