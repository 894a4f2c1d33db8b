"""Everything a request needs, built once in the app's lifespan and kept on app.state.deps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from gateway.api.auth import Authenticator
from gateway.api.idempotency import Idempotency
from gateway.cache import ResponseCache
from gateway.config.limits import LimitsConfig
from gateway.config.live import ConfigStore
from gateway.pipeline.service import ChatService
from gateway.providers.local_server import LocalServer
from gateway.providers.registry import ProviderRegistry
from gateway.usage.metrics import UsageMetrics
from gateway.usage.record import RequestRecord
from retrieval.batching import MicroBatcher
from retrieval.tokens import TokenCounter


class UsageSink(Protocol):
    metrics: UsageMetrics

    def record(self, rec: RequestRecord) -> None: ...

    def health(self) -> dict[str, Any]: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class Deps:
    config: ConfigStore
    auth: Authenticator
    providers: ProviderRegistry
    batcher: MicroBatcher
    tokens: TokenCounter
    cache: ResponseCache
    service: ChatService
    usage: UsageSink
    idempotency: Idempotency
    local_servers: list[LocalServer] = field(default_factory=list)

    @property
    def limits(self) -> LimitsConfig:
        """The budgets and rate limits in force (the dashboard shows spend against them)."""
        return self.config.current.gateway.limits


def deps_of(request: Request) -> Deps:
    """The app's dependencies, for routes that skip FastAPI's dependency solving (the hot path)."""
    return request.app.state.deps


async def get_deps(request: Request) -> Deps:
    return deps_of(request)


DepsDep = Annotated[Deps, Depends(get_deps)]
