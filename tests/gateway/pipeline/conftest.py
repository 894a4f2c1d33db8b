"""The core path in-process: the real preparer, runner, cache and providers against a scripted upstream.

No model and no network beyond the stub on loopback; the embedder is a named fake (hashed bag of
words), since these tests are about the path, not about embedding quality.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from gateway.cache import build_cache
from gateway.config.live import ConfigStore
from gateway.pipeline.context import RequestContext
from gateway.pipeline.execute import TargetRunner
from gateway.pipeline.plan import Plan
from gateway.pipeline.prepare import Preparer
from gateway.pipeline.resources import prepare_resources
from gateway.pipeline.service import ChatService
from gateway.pipeline.target_health import TargetHealth
from gateway.providers.registry import ProviderRegistry
from gateway.schemas import ChatCompletionRequest
from gateway.usage.record import RequestRecord
from retrieval.build import build_examples_index
from retrieval.registry import IndexRegistry
from tests.gateway.pipeline.stub import ScriptedUpstream
from tests.retrieval.fakes import FakeEmbedder
from tests.servers import write_config

MODELS = ("large", "small", "backup")


class FakeBatcher:
    """The micro-batcher's one call the request path makes, over the fake embedder."""

    def __init__(self, embedder: FakeEmbedder) -> None:
        self.embedder = embedder
        self.texts: list[str] = []

    async def embed(self, text: str) -> np.ndarray:
        self.texts.append(text)
        return self.embedder.vector(text)


class ListRecorder:
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def record(self, rec: RequestRecord) -> None:
        self.records.append(rec)


@dataclass
class Gateway:
    """One in-process gateway: `ask` and `stream` go through ChatService as the HTTP route does."""

    service: ChatService
    recorder: ListRecorder
    upstream: ScriptedUpstream
    providers: ProviderRegistry
    sent: int = field(default=0)

    @property
    def records(self) -> list[RequestRecord]:
        return self.recorder.records

    async def ask(self, model: str, text: str = "hello there", **params: Any) -> tuple[dict[str, Any], dict]:
        req, ctx = self._request(model, text, params)
        return await self.service.complete(req, ctx)

    async def stream(self, model: str, text: str = "hello there", **params: Any) -> list[dict[str, Any]]:
        """The stream's events, parsed; the last one is the literal "[DONE]"."""
        req, ctx = self._request(model, text, {**params, "stream": True})
        events, _ = await self.service.open_stream(req, ctx)
        parsed: list[Any] = []
        async for raw in events:
            data = raw.decode().removeprefix("data: ").strip()
            parsed.append(data if data == "[DONE]" else orjson.loads(data))
        return parsed

    async def prepare(self, model: str, text: str) -> Plan:
        """The plan the service would carry out for this request now (its cache lookup included)."""
        req, ctx = self._request(model, text, {})
        return await self.service.preparer.prepare(req, ctx)

    def _request(self, model: str, text: str, params: dict[str, Any]) -> tuple[ChatCompletionRequest, RequestContext]:
        self.sent += 1
        body = {"model": model, "messages": [{"role": "user", "content": text}], **params}
        ctx = RequestContext(request_id=f"req-{self.sent}", key_id="test")
        return ChatCompletionRequest.model_validate(body), ctx


MakeGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    stub = ScriptedUpstream()
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture
async def make_gateway(tmp_path: Path, upstream: ScriptedUpstream) -> AsyncIterator[MakeGateway]:
    """`await make_gateway(routes, models=...)`: routes by name; `models` overrides per-model settings."""
    built: list[Gateway] = []

    async def make(routes: dict[str, dict], models: dict[str, dict] | None = None,
                   examples: list[tuple[str, str]] | None = None) -> Gateway:
        settings = {name: {"model": f"openai/{name}", "api_base": upstream.url, "retries": 0, "timeout_s": 5}
                    for name in MODELS}
        for name, overrides in (models or {}).items():
            settings[name] = {**settings[name], **overrides}
        root = write_config(tmp_path / "configs", {"auth": {"open": True}, "models": settings}, routes)
        embedder = FakeEmbedder()
        if examples is not None:
            build_examples_index("examples", examples, embedder, root.parent / "indexes")
        store = ConfigStore.open(root)
        registry = IndexRegistry(store.current.indexes_dir, embedder.model_id, embedder.dim)
        store.attach(lambda snapshot: prepare_resources(snapshot, registry))
        cache = build_cache(store.current.gateway.cache, embedder.dim)
        health = TargetHealth()
        providers = ProviderRegistry(store.current.gateway.models)
        recorder = ListRecorder()
        preparer = Preparer(store, FakeBatcher(embedder), cache, health)  # type: ignore[arg-type]
        service = ChatService(store, preparer, TargetRunner(providers), cache, recorder, health)
        gateway = Gateway(service, recorder, upstream, providers)
        built.append(gateway)
        return gateway

    yield make
    for gateway in built:
        await gateway.providers.aclose()
