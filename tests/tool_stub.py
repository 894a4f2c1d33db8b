"""A recording upstream that answers with tool calls, streamed as OpenAI streams them.

    python -m tests.tool_stub --port 9200

Not a model: it checks what the gateway forwards (GET /requests returns every body received)
and what it makes of a streamed tool call. A request with `tools` gets a call to the first
tool with ARGUMENTS, split over several `tool_calls` deltas when streamed; one without tools
(or with tool messages answered) gets TEXT.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from aiohttp import web

ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'
TEXT = "It is 18 degrees in Paris."
USAGE = {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43}


def _wants_call(body: dict[str, Any]) -> bool:
    answered = any(m.get("role") == "tool" for m in body.get("messages", []))
    return bool(body.get("tools")) and not answered and body.get("tool_choice") != "none"


def _tool_name(body: dict[str, Any]) -> str:
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return choice["function"]["name"]
    return body["tools"][0]["function"]["name"]


def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {"id": "chatcmpl-tools", "object": "chat.completion.chunk", "created": int(time.time()),
             "model": body.get("model", "tools"), "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _stream(body: dict[str, Any]) -> list[bytes]:
    if not _wants_call(body):
        return [_chunk(body, {"role": "assistant", "content": ""}), _chunk(body, {"content": TEXT}),
                _chunk(body, {}, "stop")]
    opening = {"index": 0, "id": "call_stub_1", "type": "function",
               "function": {"name": _tool_name(body), "arguments": ""}}
    pieces = [ARGUMENTS[i:i + 7] for i in range(0, len(ARGUMENTS), 7)]
    return [_chunk(body, {"role": "assistant", "content": None, "tool_calls": [opening]}),
            *[_chunk(body, {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in pieces],
            _chunk(body, {}, "tool_calls")]


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    if _wants_call(body):
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_stub_1", "type": "function", "function": {"name": _tool_name(body), "arguments": ARGUMENTS}}]}
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": TEXT}, "stop"
    return {"id": "chatcmpl-tools", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "tools"), "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": USAGE}


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    request.app["requests"].append(body)
    if not body.get("stream"):
        return web.json_response(_completion(body))
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for event in _stream(body):
        await response.write(event)
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"id": "chatcmpl-tools", "object": "chat.completion.chunk", "created": int(time.time()),
                 "model": body.get("model", "tools"), "choices": [], "usage": USAGE}
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def requests(request: web.Request) -> web.Response:
    return web.json_response(request.app["requests"])


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "tools", "object": "model", "owned_by": "stub"}]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args()
    app = web.Application()
    app["requests"] = []
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/requests", requests)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
