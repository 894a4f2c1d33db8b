"""Real processes for integration tests: the llama.cpp model server and the gateway itself."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

from gateway.fleet import wait_http

REPO = Path(__file__).resolve().parent.parent
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    """Poll *predicate* until it holds; False when *timeout_s* passes first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def stop(process: subprocess.Popen, timeout_s: float = 20) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def start_llama(port: int) -> subprocess.Popen:
    from gateway.config import LocalServerConfig
    from gateway.providers.local_server import server_command

    command = server_command(LocalServerConfig(port=port, n_ctx=2048))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_or_stop(f"http://127.0.0.1:{port}/v1/models", 300, process)
    return process


def write_config(root: Path, gateway: dict, routes: dict[str, dict]) -> Path:
    (root / "routes").mkdir(parents=True, exist_ok=True)
    (root / "gateway.yaml").write_text(yaml.safe_dump(gateway, sort_keys=False))
    for name, route in routes.items():
        (root / "routes" / f"{name}.yaml").write_text(yaml.safe_dump(route, sort_keys=False))
    return root


def start_gateway(config_dir: Path, port: int, env: dict[str, str] | None = None,
                  log_path: Path | None = None, timeout_s: float = 300) -> subprocess.Popen:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config_dir), "--port", str(port)],
        cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT,
    )
    try:
        # generous: a busy 2-core machine has taken over two minutes to import the gateway's stack
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s, process)
    except BaseException:
        stop(process)  # never leave a half-started gateway behind
        raise
    return process


@contextlib.contextmanager
def replicas(root: Path, count: int, env: dict[str, str] | None = None) -> Iterator[list[int]]:
    """*count* gateway processes on one config, started together; every one that started is stopped after."""
    started: list[tuple[int, subprocess.Popen]] = []
    failures: list[BaseException] = []

    def one(i: int) -> None:
        port = free_port()
        try:
            # replicas import the gateway's stack all at once: on a busy 2-core machine that has taken minutes
            started.append((port, start_gateway(root, port, env=env, log_path=root.parent / f"replica-{i}.log",
                                                timeout_s=900)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        yield [port for port, _ in started]
    finally:
        for _, process in started:
            stop(process)


@contextlib.contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A schema of the caller's own in the test PostgreSQL database, dropped with all it holds afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield schema
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def _wait_or_stop(url: str, timeout_s: float, process: subprocess.Popen) -> None:
    """wait_http, stopping *process* when it never answers (a failed fixture leaves nothing running)."""
    try:
        wait_http(url, timeout_s, process)
    except BaseException:
        process.kill()
        process.wait()
        raise
