"""A priced, recording OpenAI-compatible upstream for tests of billing, coalescing and limits.

Not a model: it answers a fixed text with fixed usage, after `--delay-ms`, and counts its calls
(`GET /stats`), so a test can check how many upstream calls the gateway made and what each cost.
A model named `delay-<ms>` answers after that many milliseconds (coalescing tests need a call
that is still in flight when the followers arrive). A last user message containing `[non-sse]` or
`[empty]` makes a stream answer 200 with a body that is not SSE, or with no body at all, like a
misconfigured proxy.

    python -m tests.upstream --port 9100 --delay-ms 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web

ANSWER = "Fixed answer from the test upstream."
USAGE = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}


def completion(model: str) -> dict:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
            "usage": USAGE}


def sse(model: str) -> bytes:
    base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        *({**base, "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
          for word in ANSWER.split()),
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": USAGE},
    ]
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def make_app(delay_s: float) -> web.Application:
    calls = {"chat": 0}

    async def chat(request: web.Request) -> web.StreamResponse:
        calls["chat"] += 1
        payload = await request.json()
        model = str(payload.get("model", "test"))
        await asyncio.sleep(float(model[6:]) / 1000 if model.startswith("delay-") else delay_s)
        last = str((payload.get("messages") or [{}])[-1].get("content", ""))
        if not payload.get("stream"):
            return web.json_response(completion(model))
        if "[non-sse]" in last:
            return web.Response(text="<html>proxy error page</html>", content_type="text/html")
        if "[empty]" in last:
            return web.Response(body=b"", content_type="text/event-stream")
        return web.Response(body=sse(model), content_type="text/event-stream")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(calls)

    async def reset(_request: web.Request) -> web.Response:
        calls["chat"] = 0
        return web.json_response(calls)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    app.router.add_get("/v1/models", lambda _r: web.json_response({"object": "list", "data": []}))
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    web.run_app(make_app(args.delay_ms / 1000), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
