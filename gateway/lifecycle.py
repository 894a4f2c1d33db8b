"""Build the gateway's dependencies from config, start them, and stop them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.auth import Authenticator
from gateway.config.store import ConfigStore
from gateway.deps import Deps
from gateway.providers.local_server import LocalServer
from gateway.providers.registry import ProviderRegistry
from gateway.service import ChatService
from gateway.usage.null import NullRecorder


def build_deps(store: ConfigStore) -> Deps:
    """The embedded defaults and configured parts, not yet started."""
    gateway = store.current.gateway
    providers = ProviderRegistry(gateway.models)
    recorder = NullRecorder()
    return Deps(
        config=store,
        auth=Authenticator(gateway.auth),
        providers=providers,
        service=ChatService(store, providers, recorder),
        usage=recorder,
        local_servers=[LocalServer(name, cfg) for name, cfg in gateway.local_servers.items()],
    )


@asynccontextmanager
async def running(deps: Deps, *, watch: bool = True) -> AsyncIterator[Deps]:
    """Start local model servers, the recorder and the config watcher; stop them on exit."""
    await asyncio.gather(*(server.start() for server in deps.local_servers))
    await deps.usage.start()
    stop = asyncio.Event()
    watcher = asyncio.create_task(deps.config.watch(stop)) if watch else None
    try:
        yield deps
    finally:
        stop.set()
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await deps.usage.aclose()
        await deps.providers.aclose()
        await asyncio.gather(*(server.stop() for server in deps.local_servers))
