"""A model server that dies mid-stream: the client gets an error event and [DONE], not a dropped connection."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import CHAT_ROUTE, base_gateway
from tests.servers import free_port, start_gateway, start_llama, stop, write_config

pytestmark = pytest.mark.slow


def test_upstream_killed_mid_stream(tmp_path: Path, llama_url: str) -> None:
    llama_port = free_port()
    doomed = start_llama(llama_port)
    gateway = base_gateway(llama_url)
    gateway["models"]["doomed"] = {"model": "openai/smollm2", "api_base": f"http://127.0.0.1:{llama_port}/v1",
                                   "retries": 0}
    route = {**CHAT_ROUTE, "targets": {"large": {"model": "doomed"}}, "params": {"max_tokens": 400}}
    root = write_config(tmp_path / "configs", gateway, {"doomed": route})
    port = free_port()
    process = start_gateway(root, port)
    body = {"model": "doomed", "stream": True, "messages": [{"role": "user", "content": "Tell a very long story."}]}
    events: list[str] = []
    try:
        with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines():
                if not line.startswith("data:"):
                    continue
                events.append(line)
                if len(events) == 3:
                    doomed.send_signal(signal.SIGKILL)
    finally:
        stop(doomed)
        stop(process)
    assert len(events) >= 5
    assert events[-1] == "data: [DONE]"
    assert '"error"' in events[-2] and "upstream_error" in events[-2]
