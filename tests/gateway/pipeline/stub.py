"""A recording, scriptable OpenAI-compatible upstream on loopback, for the in-process core-path tests.

Each upstream model answers from its script (status, delay, streamed usage or not), then with a
default answer. Every request body it received is kept, so tests check what was forwarded.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web


@dataclass(frozen=True)
class Reply:
    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    usage: bool = True


class ScriptedUpstream:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.calls: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def script(self, model: str, *replies: Reply) -> None:
        self.scripts.setdefault(model, []).extend(replies)

    def calls_to(self, model: str) -> list[dict[str, Any]]:
        return [call for call in self.calls if call["model"] == model]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.calls.append(body)
        model = body["model"]
        queue = self.scripts.get(model)
        reply = queue.pop(0) if queue else Reply()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status != 200:
            return web.json_response({"error": {"message": f"scripted {reply.status}"}}, status=reply.status)
        content = reply.content or f"answer from {model}"
        if body.get("stream"):
            return await _stream(request, model, content, reply.usage)
        return web.json_response(completion(model, content, reply.usage))


def completion(model: str, content: str, usage: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    return body


async def _stream(request: web.Request, model: str, content: str, usage: bool) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    head = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    deltas = [{"role": "assistant", "content": ""}, *({"content": f"{word} "} for word in content.split())]
    chunks = [{**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        chunks.append({**head, "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7,
                                                         "total_tokens": 18}})
    for chunk in chunks:
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response
