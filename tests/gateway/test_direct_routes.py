"""DirectRoutes: the named endpoints answer without the stack below, with the app's exception handlers."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from gateway.api.direct import DirectRoutes
from gateway.errors import GatewayError, InvalidRequest


class RecordingFakeApp:
    """The rest of the stack: answers 404 and remembers that it was asked."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await PlainTextResponse("stack", 404)(scope, receive, send)


async def ok(request: Request) -> Response:
    return PlainTextResponse("direct")


async def refuses(request: Request) -> Response:
    raise InvalidRequest("no")


async def breaks(request: Request) -> Response:
    raise RuntimeError("bug")


async def on_gateway_error(request: Request, exc: GatewayError) -> Response:
    return PlainTextResponse(f"handled {exc.message}", exc.status)


async def on_anything(request: Request, exc: Exception) -> Response:
    raise AssertionError("the catch-all stays with ServerErrorMiddleware")


async def call(app: DirectRoutes, method: str, path: str) -> tuple[int, bytes]:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def direct(stack: RecordingFakeApp) -> DirectRoutes:
    routes = {("POST", "/ok"): ok, ("POST", "/refuses"): refuses, ("POST", "/breaks"): breaks}
    return DirectRoutes(stack, routes, {GatewayError: on_gateway_error, Exception: on_anything})


async def test_named_endpoints_answer_directly_and_the_rest_goes_down_the_stack() -> None:
    stack = RecordingFakeApp()
    app = direct(stack)
    assert await call(app, "POST", "/ok") == (200, b"direct")
    assert await call(app, "GET", "/ok") == (404, b"stack")
    assert await call(app, "POST", "/other") == (404, b"stack")
    assert stack.paths == ["/ok", "/other"]


async def test_handled_exceptions_get_the_apps_handler_and_others_rise() -> None:
    app = direct(RecordingFakeApp())
    assert await call(app, "POST", "/refuses") == (400, b"handled no")
    with pytest.raises(RuntimeError, match="bug"):
        await call(app, "POST", "/breaks")


def test_sync_handlers_are_refused() -> None:
    def sync_handler(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("")

    with pytest.raises(TypeError, match="async"):
        DirectRoutes(RecordingFakeApp(), {}, {ValueError: sync_handler})
