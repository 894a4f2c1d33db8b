"""A small HTTP/1.1 client for one upstream URL's JSON POSTs: pooled keep-alive connections, the request
head built once, one write per request, the response parsed by httptools (uvicorn's parser).

    pool = Http1Pool(url, {"authorization": "Bearer ..."}, connect_timeout_s=5, read_timeout_s=60)
    status, body = await pool.post(b'{"model": ...}')
    await pool.aclose()

The direct provider's non-streamed calls go through it: aiohttp's request path is about 140 Python calls,
80 us of CPU per call against 14 us here (both against the benchmark stub), and was the largest package
in a passthrough request's profile (docs/benchmarks.md, "Fixes from the profiles"). Streams stay on aiohttp.

Raises OSError when the upstream cannot be reached or closes the connection before answering (a
`ConnectionError`, as a reused keep-alive connection the server dropped), `TimeoutError` when connecting or
a read waits longer than its timeout, and `httptools.HttpParserError` for a response that is not HTTP.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

# what a client connection may send in a header value: no line breaks (they would start a new header)
_FORBIDDEN = ("\r", "\n")


class Http1Pool:
    """Keep-alive connections to the host of *url*; each `post` borrows an idle one or opens a new one,
    at most *max_connections* at a time."""

    def __init__(self, url: str, headers: Mapping[str, str], *, connect_timeout_s: float, read_timeout_s: float,
                 keepalive_s: float = 30.0, max_connections: int = 512) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._head = _request_head(parts.path or "/", parts.query, parts.netloc, headers)
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._keepalive_s = keepalive_s
        # at most max_connections exchanges at once (aiohttp's connector limit before): the rest wait their turn
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """The status and body of the response to POSTing *body* (sent as it is, with its length)."""
        async with self._slots:
            return await self._exchange(body)

    async def _exchange(self, body: bytes) -> tuple[int, bytes]:
        conn = self._borrow() or await self._open()
        try:
            status, content = await conn.exchange(self._head + b"%d\r\n\r\n" % len(body) + body)
        except BaseException:
            # an unfinished exchange (a timeout, a cancelled request) leaves the connection unusable
            conn.close()
            raise
        self._give_back(conn)
        return status, content

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _borrow(self) -> _Connection | None:
        """The most recently used idle connection still open and within its keep-alive time."""
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable(self._keepalive_s):
                return conn
            conn.close()
        return None

    def _give_back(self, conn: _Connection) -> None:
        if conn.keep_alive:
            conn.rested()
            self._idle.append(conn)
        else:
            conn.close()

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        connecting = loop.create_connection(lambda: _Connection(self._read_timeout_s), self._host, self._port,
                                            ssl=self._ssl, server_hostname=self._host if self._ssl else None)
        _, conn = await asyncio.wait_for(connecting, self._connect_timeout_s)
        return conn


def _request_head(path: str, query: str, netloc: str, headers: Mapping[str, str]) -> bytes:
    """Everything before the body but the Content-Length value, which `post` appends."""
    lines = [f"POST {path}{'?' + query if query else ''} HTTP/1.1", f"Host: {netloc}",
             "Accept: application/json", "User-Agent: ragway"]
    for name, value in headers.items():
        if any(c in name or c in value for c in _FORBIDDEN):
            raise ValueError(f"header {name!r} holds a line break")
        if name.lower() not in ("host", "content-length", "accept", "user-agent"):
            lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")


class _Connection(asyncio.Protocol):
    """One TCP connection: one request at a time, its response collected by httptools' callbacks."""

    def __init__(self, read_timeout_s: float) -> None:
        self._read_timeout_s = read_timeout_s
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []
        self._framed = False  # the response says where its body ends (Content-Length or chunked)
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.keep_alive = False
        self._idle_since = 0.0

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("the upstream closed the connection")
        self._waiter = self._loop.create_future()
        self._body, self._framed = [], False
        self._last_read = self._loop.time()
        self._timer = self._loop.call_at(self._last_read + self._read_timeout_s, self._check_timeout)
        self._transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def reusable(self, keepalive_s: float) -> bool:
        open_ = self._transport is not None and not self._transport.is_closing()
        return open_ and self._loop.time() - self._idle_since < keepalive_s

    def rested(self) -> None:
        self._idle_since = self._loop.time()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio's, though they are read-write transports
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done() and not self._framed and self._status_seen():
            # a body without Content-Length or chunking ends when the connection does
            self.keep_alive = False
            self._waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))
            return
        self._fail(exc or ConnectionResetError("the upstream closed the connection before answering"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))

    def _status_seen(self) -> bool:
        return self._parser.get_status_code() != 0

    def _check_timeout(self) -> None:
        """Fail the exchange when nothing arrived for read_timeout; else look again when it could be due."""
        due = self._last_read + self._read_timeout_s
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check_timeout)
            return
        self._timer = None
        self._fail(TimeoutError(f"no response bytes for {self._read_timeout_s:g} s"))
        self.close()

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
