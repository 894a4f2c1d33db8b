"""Pure ASGI, the innermost middleware: the hot endpoints served without the layers under it.

Below the app's own middleware Starlette and FastAPI put ExceptionMiddleware, an exit stack, the
router's match and `request_response`, each a frame and most a `send` wrapper. A request for one of the
endpoints named here (its method and exact path) goes straight to it; an exception the app has a handler
for gets that handler, as ExceptionMiddleware would give it, and anything else rises to
ServerErrorMiddleware (the catch-all 500) as before. Every other request goes down the stack.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Any], Awaitable[Response]]


class DirectRoutes:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Endpoint], handlers: Mapping[Any, Any]) -> None:
        """*routes*: (method, path) -> endpoint; *handlers*: the app's exception handlers (all async), of which
        the catch-all and any status-code handler stay with the stack."""
        self.app = app
        self.routes = dict(routes)
        self.handlers: dict[type, Handler] = {}
        for key, handler in handlers.items():
            if isinstance(key, type) and key is not Exception:
                if not inspect.iscoroutinefunction(handler):
                    raise TypeError(f"the handler for {key.__name__} must be async")
                self.handlers[key] = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if endpoint is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None
