"""A RECORDING upstream for tests that check what the gateway forwards (never a stand-in for a model).

It answers every POST .../chat/completions with a fixed chat.completion (or SSE stream) and keeps each
request's path, headers and JSON body, so a test can prove a field or a key never left the gateway.
A request whose last message says "fail with 500" gets a 500 with an internal-looking body.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = "recorded"
INTERNAL_TRACE = "Traceback at /srv/upstream/secret_module.py line 42"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Recorder:
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Seen) -> None:
        with self.lock:
            self.seen.append(item)

    def snapshot(self) -> list[Seen]:
        with self.lock:
            return list(self.seen)


def _completion(model: str) -> dict[str, Any]:
    return {"id": "chatcmpl-rec", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def _stream(model: str) -> bytes:
    base = {"id": "chatcmpl-rec", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ANSWER},
                                    "finish_reason": None}]},
              {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"_unparsed": raw.decode("latin-1")}
            recorder.add(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            messages = body.get("messages") or [{}]
            if "fail with 500" in str(messages[-1].get("content", "")):
                self._send(500, json.dumps({"error": {"message": INTERNAL_TRACE}}).encode(), "application/json")
            elif body.get("stream"):
                self._send(200, _stream(body.get("model", "rec")), "text/event-stream")
            else:
                self._send(200, json.dumps(_completion(body.get("model", "rec"))).encode(), "application/json")

        def do_GET(self) -> None:
            self._send(200, b'{"object": "list", "data": []}', "application/json")

        def _send(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


class RecordingUpstream:
    """Serve on 127.0.0.1:<free port> in a thread; `url` is the OpenAI base URL (…/v1)."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.recorder))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def seen(self) -> list[Seen]:
        return self.recorder.snapshot()

    def __enter__(self) -> RecordingUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
