"""BENCHMARK FIXTURE: a zero-latency OpenAI-compatible upstream with a fixed answer.

Not a model and not a mock for tests of behaviour: it is the baseline every gateway
in `make bench` is measured against, so it must cost as close to nothing as Python
allows. Hence a raw asyncio protocol (on uvloop when present) rather than a web
framework: parsing one small request and writing prebuilt bytes is the whole job.

    python -m bench.stub_upstream --port 9100

Serves POST /v1/chat/completions (a fixed chat.completion, or an SSE stream with
usage when "stream": true), GET /v1/models, and GET /stats (requests answered,
so a benchmark can prove cache hits never reached the upstream).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from dataclasses import dataclass

import orjson

ANSWER = "This is the benchmark stub's fixed answer."
MODEL = "stub"
USAGE = {"prompt_tokens": 24, "completion_tokens": 9, "total_tokens": 33}
_MAX_HEAD = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    body: bytes
    keep_alive: bool


@dataclass
class Counter:
    requests: int = 0


def completion(model: str) -> dict:
    """The fixed chat.completion object the stub returns for every request."""
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


def stream_events(model: str) -> bytes:
    """The same answer as an SSE stream: role, content, then finish with usage, then [DONE]."""
    base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    deltas = [
        ({"role": "assistant", "content": ""}, None, None),
        ({"content": ANSWER}, None, None),
        ({}, "stop", USAGE),
    ]
    events = []
    for delta, finish, usage in deltas:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if usage:
            chunk["usage"] = usage
        events.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


MODELS = orjson.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}]})


def http_response(status: str, body: bytes, content_type: str, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + body


def answer(request: Request, counter: Counter) -> bytes:
    """The full HTTP response bytes for one parsed request."""
    if request.path.startswith("/v1/chat/completions") and request.method == "POST":
        counter.requests += 1
        return _chat(request)
    if request.path.startswith("/v1/models") and request.method == "GET":
        return http_response("200 OK", MODELS, "application/json", request.keep_alive)
    if request.path == "/stats" and request.method == "GET":
        body = orjson.dumps({"requests": counter.requests})
        return http_response("200 OK", body, "application/json", request.keep_alive)
    error = orjson.dumps({"error": {"message": "not found", "type": "invalid_request_error", "code": "not_found"}})
    return http_response("404 Not Found", error, "application/json", request.keep_alive)


def _chat(request: Request) -> bytes:
    try:
        payload = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        error = orjson.dumps({"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
        return http_response("400 Bad Request", error, "application/json", request.keep_alive)
    if not isinstance(payload, dict):
        payload = {}
    model = payload.get("model") or MODEL
    if payload.get("stream"):
        return http_response("200 OK", stream_events(model), "text/event-stream", request.keep_alive)
    return http_response("200 OK", orjson.dumps(completion(model)), "application/json", request.keep_alive)


def parse(buffer: bytearray) -> tuple[Request, int] | None:
    """One complete request from the front of *buffer* and the bytes it used, or None if incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > _MAX_HEAD:
            raise ValueError("request head too large")
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    method, path, version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    start = end + 4
    if headers.get("transfer-encoding", "").lower() == "chunked":
        decoded = _dechunk(buffer, start)
        if decoded is None:
            return None
        body, used = decoded
        return Request(method, path, body, keep_alive), used
    length = int(headers.get("content-length", "0"))
    if len(buffer) < start + length:
        return None
    return Request(method, path, bytes(buffer[start : start + length]), keep_alive), start + length


def _dechunk(buffer: bytearray, pos: int) -> tuple[bytes, int] | None:
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", pos)
            return (bytes(body), trailer_end + 2) if trailer_end >= 0 else None
        if len(buffer) < pos + size + 2:
            return None
        body += buffer[pos : pos + size]
        pos += size + 2


class Connection(asyncio.Protocol):
    """One keep-alive client connection: parse what arrived, answer each complete request."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            try:
                parsed = parse(self.buffer)
            except ValueError:
                self.transport.close()
                return
            if parsed is None:
                return
            request, used = parsed
            del self.buffer[:used]
            self.transport.write(answer(request, self.counter))
            if not request.keep_alive:
                self.transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    counter = Counter()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(counter), host, port, reuse_address=True, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stub_upstream", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(args.host, args.port))


if __name__ == "__main__":
    main()
