"""Gateway fixtures: one real llama.cpp server per session, a gateway process per test module."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.private_servers import PrivatePostgres, PrivateRedis
from tests.servers import REPO, free_port, start_gateway, start_llama, stop, wait_http, write_config


@pytest.fixture(scope="session")
def llama_url() -> Iterator[str]:
    """A real SmolLM2-135M behind llama-cpp-python's OpenAI-compatible server."""
    port = free_port()
    process = start_llama(port)
    yield f"http://127.0.0.1:{port}/v1"
    stop(process)


@pytest.fixture(scope="session")
def demo_indexes() -> Path:
    """The demo indexes `make run` and `make test` build under indexes/ (a no-op when present)."""
    subprocess.run([sys.executable, "-m", "gateway.cli", "index", "ensure-demo"], cwd=REPO, check=True)
    return REPO / "indexes"


def base_gateway(llama_url: str, **overrides) -> dict:
    config = {
        "server": {"max_body_bytes": 65536},
        "auth": {"open": True},
        "models": {
            "smollm2": {"model": "openai/smollm2", "api_base": llama_url, "timeout_s": 60, "retries": 0},
            "dead": {"model": "openai/dead", "api_base": f"http://127.0.0.1:{free_port()}/v1", "retries": 0},
            "slow": {"model": "openai/smollm2", "api_base": llama_url, "timeout_s": 0.05, "retries": 0},
            "via-litellm": {"model": "openai/smollm2", "api_base": llama_url, "provider": "litellm",
                            "retries": 0},
        },
    }
    config.update(overrides)
    return config


CHAT_ROUTE = {
    "task": "generation",
    "system_prompt": "You are a concise assistant.",
    "targets": {"large": {"model": "smollm2"}},
    "policy": {"kind": "fixed", "target": "large"},
    "params": {"max_tokens": 24, "temperature": 0},
}


@pytest.fixture(scope="module")
def gateway_url(llama_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway process in open mode with routes chat, dead (refused connection) and slow (tiny timeout)."""
    root = tmp_path_factory.mktemp("config")
    routes = {
        "chat": CHAT_ROUTE,
        "dead": {**CHAT_ROUTE, "targets": {"large": {"model": "dead"}}},
        "slow": {**CHAT_ROUTE, "targets": {"large": {"model": "slow"}}, "params": {"max_tokens": 200}},
    }
    write_config(root, base_gateway(llama_url), routes)
    port = free_port()
    process = start_gateway(root, port, log_path=root / "gateway.log")
    yield f"http://127.0.0.1:{port}"
    stop(process)


@pytest.fixture
def config_dir(tmp_path: Path, llama_url: str) -> Path:
    return write_config(tmp_path / "configs", base_gateway(llama_url), {"chat": CHAT_ROUTE})


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test session's own, for tests that stop and start it."""
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test session's own, for tests that stop and start it."""
    server = PrivateRedis()
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def test_upstream() -> Iterator[str]:
    """The priced, recording upstream of tests/upstream.py (its /stats counts calls)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.upstream", "--port", str(port)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/stats", 60, process)
    yield f"http://127.0.0.1:{port}"
    stop(process)
