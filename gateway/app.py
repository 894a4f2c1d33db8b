"""The ASGI app: routers, error handlers, and dependencies built in the lifespan."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from gateway.api import chat, completions, errors, health, logs, models, responses
from gateway.api.deps import Deps
from gateway.api.direct import DirectRoutes
from gateway.api.request_id import RequestIdMiddleware
from gateway.config.live import ConfigStore
from gateway.telemetry import Telemetry, TracingMiddleware
from gateway.wiring import build_deps, running

BuildDeps = Callable[[ConfigStore], Deps]


def create_app(config_root: Path, *, build: BuildDeps = build_deps, watch: bool = True) -> FastAPI:
    """The gateway for the config directory *config_root*; *build* lets tests swap dependencies."""
    store = ConfigStore.open(config_root)
    telemetry = Telemetry(store.current.gateway.telemetry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        telemetry.start()
        try:
            async with running(build(store), watch=watch) as deps:
                app.state.deps = deps
                _freeze_startup_heap()
                yield
        finally:
            telemetry.shutdown()

    # FastAPI's own server span would duplicate TracingMiddleware's, which carries the GenAI attributes;
    # the gateway's metrics are Prometheus's (/metrics) and it sets no OpenTelemetry meter or logger
    # provider, so FastAPI's OTel metrics and logs are off too: left on, FastAPI asked the global providers
    # whether they were configured on every request (3 us each, about 1% of a passthrough request's CPU)
    app = FastAPI(title="ragway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                             "auto_configure": False})
    # added first, so it runs last: the chat endpoint skips the router and the exception layers under it;
    # the handlers are read when the stack is built, after errors.install below
    app.add_middleware(DirectRoutes, routes={("POST", chat.route.path): chat.chat_completions},
                       handlers=app.exception_handlers)
    app.add_middleware(RequestIdMiddleware)
    # added last, so it runs first: the request id is set inside the request's span
    app.add_middleware(TracingMiddleware, telemetry=telemetry)
    errors.install(app)
    app.router.routes.append(chat.route)
    for router in (responses.router, completions.router, models.router, health.router, logs.router):
        app.include_router(router)
    return app


def _freeze_startup_heap() -> None:
    """Exempt the objects made at start-up (torch, transformers, litellm: millions) from garbage collection.

    Without this every full collection walks them all and stalls the event loop for ~300 ms,
    which showed as the p99 of every benchmark row (docs/benchmarks.md).
    """
    gc.collect()
    gc.freeze()


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: the config directory comes from RAGWAY_CONFIG."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # one line per upstream call would drown the gateway's own messages
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    return create_app(Path(os.environ.get("RAGWAY_CONFIG", "configs")))
