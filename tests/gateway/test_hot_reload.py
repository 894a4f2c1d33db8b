"""Editing a route file while serving: the next request uses it; a broken edit is refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from openai import OpenAI

from tests.gateway.conftest import CHAT_ROUTE
from tests.servers import free_port, start_gateway, stop, wait_for

pytestmark = pytest.mark.slow


def ask(client: OpenAI):
    return client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Hi"}], max_tokens=2)


def test_edit_applies_and_broken_edit_is_refused(config_dir: Path) -> None:
    port = free_port()
    process = start_gateway(config_dir, port)
    base = f"http://127.0.0.1:{port}"
    client = OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0)
    route_file = config_dir / "routes" / "chat.yaml"
    try:
        before = ask(client)
        longer = {**CHAT_ROUTE, "system_prompt": "You are a careful assistant for a bank. " * 8}
        route_file.write_text(yaml.safe_dump(longer))
        assert wait_for(lambda: ask(client).model_extra["ragway"]["route_version"]
                        != before.model_extra["ragway"]["route_version"])
        after = ask(client)
        assert after.usage.prompt_tokens > before.usage.prompt_tokens + 40

        broken = yaml.safe_dump(longer) + "temprature: 0.5\n"
        route_file.write_text(broken)
        assert wait_for(lambda: httpx.get(f"{base}/readyz").json()["config_error"] is not None)
        error = httpx.get(f"{base}/readyz").json()["config_error"]
        assert f"chat.yaml:{broken.count(chr(10))}: key 'temprature'" in error
        still = ask(client)
        assert still.model_extra["ragway"]["route_version"] == after.model_extra["ragway"]["route_version"]
    finally:
        stop(process)
