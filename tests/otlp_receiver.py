"""A real OTLP/HTTP trace receiver for tests: decodes what exporters POST to /v1/traces.

    python -m tests.otlp_receiver --port 4318

POST /v1/traces takes an ExportTraceServiceRequest (protobuf, as the OTel SDK's OTLP/HTTP
exporter sends it) and keeps its spans; GET /spans returns them as JSON. `tree()` renders a
trace as an indented span tree with timings (the README's trace came from it).
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

Span = dict[str, Any]


def decode(body: bytes) -> list[Span]:
    """The spans of one export request, flattened, ids as hex, attributes as a plain dict."""
    request = ExportTraceServiceRequest.FromString(body)
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append({
                    "name": span.name,
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "kind": span.kind,
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                    "status": span.status.code,
                    "attributes": _attributes(span.attributes),
                    "resource": resource,
                    "scope": scope_spans.scope.name,
                })
    return spans


def _attributes(pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        value = MessageToDict(pair.value)
        kind, raw = next(iter(value.items())) if value else ("stringValue", "")
        if kind == "arrayValue":
            raw = [next(iter(v.values())) for v in raw.get("values", [])]
        elif kind == "intValue":
            raw = int(raw)
        out[pair.key] = raw
    return out


def tree(spans: list[Span], trace_id: str) -> str:
    """One trace as an indented tree: offset from the root's start and duration, in ms."""
    mine = sorted((s for s in spans if s["trace_id"] == trace_id), key=lambda s: s["start_ns"])
    ids = {s["span_id"] for s in mine}
    start = min(s["start_ns"] for s in mine)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for span in (s for s in mine if s["parent_span_id"] == parent or (depth == 0 and s["parent_span_id"]
                                                                            not in ids and parent == "")):
            offset = (span["start_ns"] - start) / 1e6
            duration = (span["end_ns"] - span["start_ns"]) / 1e6
            lines.append(f"{'  ' * depth}{span['name']:<{44 - 2 * depth}} +{offset:8.2f} ms {duration:8.2f} ms")
            walk(span["span_id"], depth + 1)

    walk("", 0)
    return "\n".join(lines)


class Receiver(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)
        self.spans: list[Span] = []
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path != "/v1/traces" or "protobuf" not in (self.headers.get("content-type") or ""):
            self._send(404, b"", "text/plain")
            return
        spans = decode(body)
        with self.server.lock:
            self.server.spans.extend(spans)
        self._send(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def do_GET(self) -> None:
        if self.path != "/spans":
            self._send(404, b"", "text/plain")
            return
        with self.server.lock:
            body = json.dumps(self.server.spans).encode()
        self._send(200, body, "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    Receiver((args.host, args.port)).serve_forever()


if __name__ == "__main__":
    main()
