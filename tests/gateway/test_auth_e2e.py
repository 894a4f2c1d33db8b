"""A gateway with keys: the openai client with a wrong key gets 401 in OpenAI shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.gateway.conftest import CHAT_ROUTE, base_gateway
from tests.servers import free_port, start_gateway, stop, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def closed_gateway(llama_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("closed")
    auth = {"open": False, "client_key_envs": ["T_CLIENT_KEY"], "admin_key_envs": ["T_ADMIN_KEY"]}
    write_config(root, base_gateway(llama_url, auth=auth), {"chat": CHAT_ROUTE})
    port = free_port()
    process = start_gateway(root, port, env={"T_CLIENT_KEY": "sk-test-client", "T_ADMIN_KEY": "sk-test-admin"})
    yield f"http://127.0.0.1:{port}"
    stop(process)


def test_wrong_key_is_401(closed_gateway: str) -> None:
    client = OpenAI(base_url=f"{closed_gateway}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "invalid_api_key"


def test_right_key_answers(closed_gateway: str) -> None:
    client = OpenAI(base_url=f"{closed_gateway}/v1", api_key="sk-test-client", max_retries=0)
    completion = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}],
                                                max_tokens=4)
    assert completion.choices


def test_admin_reload_needs_admin_key(closed_gateway: str) -> None:
    url = f"{closed_gateway}/admin/reload"
    assert httpx.post(url, headers={"authorization": "Bearer sk-test-client"}).status_code == 401
    assert httpx.post(url, headers={"authorization": "Bearer sk-test-admin"}).status_code == 200
