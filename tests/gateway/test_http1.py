"""The direct provider's HTTP/1.1 client against a real local server: reuse, framing, failures, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from gateway.providers.http1 import Http1Pool

Answer = Callable[[bytes], bytes | None]


@dataclass
class Server:
    """A raw TCP server: each request's bytes go to *answer*, whose bytes are written back (None: hang up)."""

    answer: Answer
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    close_after_answer: bool = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                reply = self.answer(request)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/chat/completions"
    finally:
        listener.close()


def sized(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def pool(url: str, read_timeout_s: float = 5.0) -> Http1Pool:
    return Http1Pool(url, {"content-type": "application/json", "authorization": "Bearer k"},
                     connect_timeout_s=2.0, read_timeout_s=read_timeout_s)


async def test_keeps_the_connection_and_sends_the_head_and_body() -> None:
    server = Server(lambda request: sized(b'{"ok": true}'))
    async with serving(server) as url:
        client = pool(url)
        answers = [await client.post(b'{"n": %d}' % i) for i in range(3)]
        await client.aclose()
    assert answers == [(200, b'{"ok": true}')] * 3
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nauthorization: Bearer k" in head and b"\r\nContent-Length: 8" in head
    assert body == b'{"n": 0}'


async def test_concurrent_posts_share_at_most_max_connections() -> None:
    server = Server(lambda request: sized(b"{}"))
    async with serving(server) as url:
        client = Http1Pool(url, {}, connect_timeout_s=2.0, read_timeout_s=5.0, max_connections=2)
        answers = await asyncio.gather(*(client.post(b"{}") for _ in range(8)))
        await client.aclose()
    assert answers == [(200, b"{}")] * 8
    assert server.connections == 2


async def test_chunked_and_close_delimited_bodies_are_read_whole() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    server = Server(lambda request: chunked)
    async with serving(server) as url:
        client = pool(url)
        assert await client.post(b"{}") == (200, b"hello world")
        assert await client.post(b"{}") == (200, b"hello world")
        await client.aclose()
    assert server.connections == 1

    close_delimited = b"HTTP/1.1 503 Busy\r\nConnection: close\r\n\r\nno length"
    unframed = Server(lambda request: close_delimited, close_after_answer=True)
    async with serving(unframed) as url:
        client = pool(url)
        assert await client.post(b"{}") == (503, b"no length")
        assert await client.post(b"{}") == (503, b"no length")
        await client.aclose()
    assert unframed.connections == 2, "a connection the server closes is not reused"


async def test_a_connection_the_server_dropped_while_idle_is_not_reused() -> None:
    server = Server(lambda request: sized(b"{}"), close_after_answer=True)
    async with serving(server) as url:
        client = pool(url)
        assert await client.post(b"{}") == (200, b"{}")
        await asyncio.sleep(0.05)  # the server's FIN arrives while the connection sits idle
        assert await client.post(b"{}") == (200, b"{}")
        await client.aclose()
    assert server.connections == 2


async def test_hang_up_before_answering_is_a_connection_error() -> None:
    async with serving(Server(lambda request: None)) as url:
        client = pool(url)
        with pytest.raises(ConnectionError):
            await client.post(b"{}")
        await client.aclose()


async def test_nothing_listening_is_an_os_error() -> None:
    async with serving(Server(lambda request: None)) as url:
        pass
    client = pool(url)
    with pytest.raises(OSError):
        await client.post(b"{}")


async def test_a_silent_server_times_out_and_its_connection_is_dropped() -> None:
    stalled = asyncio.Event()

    def answer(request: bytes) -> bytes | None:
        if not stalled.is_set():
            stalled.set()
            return b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"  # then nothing more
        return sized(b"{}")

    server = Server(answer)
    async with serving(server) as url:
        client = pool(url, read_timeout_s=0.2)
        with pytest.raises(TimeoutError):
            await client.post(b"{}")
        assert await client.post(b"{}") == (200, b"{}")
        await client.aclose()
    assert server.connections == 2


def test_header_values_cannot_inject_lines() -> None:
    with pytest.raises(ValueError, match="line break"):
        Http1Pool("http://127.0.0.1:1/x", {"authorization": "Bearer k\r\nX-Evil: 1"},
                  connect_timeout_s=1, read_timeout_s=1)
    with pytest.raises(ValueError, match="http"):
        Http1Pool("/chat/completions", {}, connect_timeout_s=1, read_timeout_s=1)
