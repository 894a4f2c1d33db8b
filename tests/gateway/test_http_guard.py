"""The header timeout and connection cap, on a real uvicorn server with real sockets (a trivial ASGI app)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from bench.bench_security import peer_closed
from gateway.http_guard import HEADER_TIMEOUT_ENV, MAX_CONNECTIONS_ENV, PROTOCOL
from tests.servers import free_port, wait_for


async def hello(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[int]:
    timeout_s, cap = request.param
    monkeypatch.setenv(HEADER_TIMEOUT_ENV, str(timeout_s))
    monkeypatch.setenv(MAX_CONNECTIONS_ENV, str(cap))
    port = free_port()
    config = uvicorn.Config(hello, host="127.0.0.1", port=port, http=PROTOCOL, log_level="warning",
                            lifespan="off", timeout_keep_alive=60)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    assert wait_for(lambda: running.started, 30)
    yield port
    running.should_exit = True
    thread.join(10)


def _open(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if data:
        sock.sendall(data)
    return sock


def _get(port: int) -> bytes:
    with _open(port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n") as sock:
        return sock.recv(1024)


@pytest.mark.parametrize("server", [(1.0, 1000)], indirect=True)
def test_connections_that_never_finish_their_headers_arepeer_closed(server: int) -> None:
    silent = [_open(server, b"") for _ in range(50)]
    partial = [_open(server, b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n") for _ in range(50)]
    assert b" 200 " in _get(server)
    assert wait_for(lambda: all(peer_closed(s) for s in silent + partial), 15)
    for sock in silent + partial:
        sock.close()


@pytest.mark.parametrize("server", [(1.0, 1000)], indirect=True)
def test_a_trickle_of_header_bytes_does_not_keep_a_connection(server: int) -> None:
    with _open(server, b"GET / HTTP/1.1\r\n") as sock:
        deadline = time.monotonic() + 10
        while not peer_closed(sock) and time.monotonic() < deadline:
            sock.setblocking(True)
            try:
                sock.sendall(b"x-slow: 1\r\n")
            except OSError:
                break
            time.sleep(0.2)
        assert time.monotonic() < deadline


@pytest.mark.parametrize("server", [(1.0, 1000)], indirect=True)
def test_keep_alive_connection_is_timed_again_after_each_response(server: int) -> None:
    with _open(server, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n") as sock:
        assert b" 200 " in sock.recv(1024)
        sock.sendall(b"GET / HTTP/1.1\r\n")
        assert wait_for(lambda: peer_closed(sock), 10)


@pytest.mark.parametrize("server", [(60.0, 20)], indirect=True)
def test_connections_past_the_cap_are_closed_on_accept(server: int) -> None:
    socks = [_open(server, b"") for _ in range(40)]
    assert wait_for(lambda: sum(peer_closed(s) for s in socks) >= 20, 10)
    assert sum(peer_closed(s) for s in socks) <= 21
    for sock in socks:
        sock.close()
    assert wait_for(lambda: b" 200 " in _get(server), 10)
