"""`ragway serve`: run the gateway with uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, fail, offline_env
from gateway.config import load_snapshot
from gateway.config.gateway_file import check_bind
from gateway.errors import ConfigError


def serve(
    config: ConfigDir = DEFAULT_CONFIG,
    host: Annotated[str | None, typer.Option(help="Bind address (default: server.host in gateway.yaml).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: server.port in gateway.yaml).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: server.workers).")] = None,
) -> None:
    """Serve the OpenAI-compatible API for the routes under CONFIG/routes.

    Route files are reloaded when they change; an invalid edit is refused and the
    last valid config keeps serving.
    """
    offline_env()
    import uvicorn

    from gateway.http_guard import HEADER_TIMEOUT_ENV, MAX_CONNECTIONS_ENV, PROTOCOL

    try:
        snapshot = load_snapshot(Path(config))
    except ConfigError as exc:
        fail(str(exc))
    server = snapshot.gateway.server
    try:
        check_bind(snapshot.gateway.auth, host or server.host)
    except ValueError as exc:
        fail(str(exc))
    # Workers import the app and the protocol by name, so their settings travel in the environment.
    os.environ["RAGWAY_CONFIG"] = str(snapshot.root)
    os.environ[HEADER_TIMEOUT_ENV] = str(server.header_timeout_s)
    os.environ[MAX_CONNECTIONS_ENV] = str(server.max_connections)
    uvicorn.run(
        "gateway.app:app_from_env",
        factory=True,
        host=host or server.host,
        port=port or server.port,
        workers=workers or server.workers,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=30,
        http=PROTOCOL,
        timeout_keep_alive=server.keep_alive_s,  # type: ignore[arg-type]  # call_later takes a float
        limit_concurrency=server.limit_concurrency,
        backlog=server.backlog,
    )
