"""Cache test fixtures: query builders, hand-made unit vectors, real Redis servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from redis import Redis
from redis.exceptions import RedisError

from gateway.cache import CacheControl, CacheQuery
from gateway.config.route_sections import CacheSettings

DIM = 8
SHARED_REDIS = "redis://127.0.0.1:6379/0"


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    """A reproducible random unit vector."""
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def near(vector: np.ndarray, cosine: float, seed: int = 99) -> np.ndarray:
    """A unit vector whose cosine similarity with *vector* is exactly *cosine*."""
    other = np.random.default_rng(seed).standard_normal(vector.shape[0]).astype(np.float64)
    other -= other.dot(vector) * vector
    other /= np.linalg.norm(other)
    return (cosine * vector + np.sqrt(1 - cosine**2) * other).astype(np.float32)


def query(
    text: str = "What is my balance?",
    *,
    route: str = "chat",
    route_version: str = "r1",
    index_versions: tuple[str, ...] = ("ix1",),
    params: dict[str, Any] | None = None,
    vector: np.ndarray | None = None,
    settings: CacheSettings | None = None,
    control: CacheControl = CacheControl.NORMAL,
    task: str = "classification",
    history: list[dict[str, Any]] | None = None,
) -> CacheQuery:
    return CacheQuery(
        route=route,
        route_version=route_version,
        index_versions=index_versions,
        messages=[*(history or []), {"role": "user", "content": text}],
        params={"temperature": 0, "max_tokens": 64} if params is None else params,
        vector=vector,
        settings=settings or CacheSettings(),
        control=control,
        task=task,
    )


def completion(text: str = "balance", finish_reason: str | None = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "smollm2",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
             "finish_reason": finish_reason}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses on the shared Redis; its keys are deleted afterwards."""
    prefix = f"ragway-test:{uuid.uuid4().hex[:12]}"
    yield prefix
    client = Redis.from_url(SHARED_REDIS)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


class RedisServer:
    """A redis-server of this test's own, on a free port, that the test may stop, pause and restart."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._workdir)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except (OSError, RedisError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self._process is not None:
            self.resume()
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def pause(self) -> None:
        """Freeze the server: connections stay open and nothing answers, as with a hung Redis."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGCONT)


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
