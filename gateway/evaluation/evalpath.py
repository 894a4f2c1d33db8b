"""The gateway's own request path as the eval's answer function.

    async with gateway_answers(Path("configs")) as answer:
        reply = await answer(variant_config, [{"role": "user", "content": "where is my card?"}])

Built once from the config directory (embedder, indexes, classifier heads, providers, local model
servers); each variant config then serves as a private route of its own, named by its content, so
variants evaluated at once never see each other's config. Eval traffic stays out of the request
log and the cache: every answer is computed, none is stored.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from gateway.cache.query import CACHE_HEADER
from gateway.config import load_snapshot
from gateway.config.gateway_file import GatewayConfig
from gateway.config.gateway_sections import CacheStoreConfig
from gateway.config.live import ConfigStore, Live
from gateway.config.route import RouteConfig
from gateway.config.snapshot import ConfigSnapshot, Route
from gateway.evaluation.runner import Answer, AnswerFn, Messages
from gateway.pipeline.context import RequestContext
from gateway.pipeline.service import ChatService
from gateway.schemas import ChatCompletionRequest
from gateway.usage.record import RequestRecord
from gateway.usage.writer import NullRecorder
from gateway.wiring import build_deps, running

EVAL_KEY = "eval"
ROUTE_PREFIX = "eval-"


class RecordTap(NullRecorder):
    """Stores nothing: keeps each request's record until the eval takes it (cost, latency, target)."""

    def __init__(self) -> None:
        super().__init__()
        self._records: dict[str, RequestRecord] = {}

    def record(self, rec: RequestRecord) -> None:
        super().record(rec)
        self._records[rec.request_id] = rec

    def take(self, request_id: str) -> RequestRecord | None:
        return self._records.pop(request_id, None)


class VariantStore(ConfigStore):
    """A config store that serves no route files, only the variant routes the eval adds; never reloads."""

    def add(self, config: RouteConfig) -> str:
        """The route name serving *config*, added (with its indexes and heads loaded) on first use."""
        version = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:12]
        name = f"{ROUTE_PREFIX}{version}"
        if name not in self.current.routes:
            route = Route(name=name, config=config, path=self.current.routes_dir / f"{name}.yaml", version=version)
            snapshot = replace(self.current, routes={**self.current.routes, name: route})
            self.live = Live(snapshot, self._prepare(snapshot))
        return name


def eval_snapshot(snapshot: ConfigSnapshot) -> ConfigSnapshot:
    """*snapshot* without its route files, with no request log and an in-process cache."""
    gateway: GatewayConfig = snapshot.gateway.model_copy(
        update={"log": snapshot.gateway.log.model_copy(update={"enabled": False}), "cache": CacheStoreConfig()}
    )
    return replace(snapshot, gateway=gateway, routes={})


@asynccontextmanager
async def gateway_answers(config_dir: Path) -> AsyncIterator[AnswerFn]:
    """An answer function running each request through the gateway's request path, started and stopped here."""
    store = VariantStore(eval_snapshot(load_snapshot(config_dir)))
    tap = RecordTap()
    deps = build_deps(store, recorder=tap)
    async with running(deps, watch=False):
        yield answer_fn(store, deps.service, tap, deps.batcher.cache.clear)


def answer_fn(store: VariantStore, service: ChatService, tap: RecordTap, forget: Callable[[], None]) -> AnswerFn:
    """*forget* empties the embedding cache when a new variant starts, so no variant is timed on another's work."""
    current: list[str] = []

    async def answer(config: RouteConfig, messages: Messages) -> Answer:
        name = store.add(config)
        if current != [name]:
            forget()
            current[:] = [name]
        request = ChatCompletionRequest.model_validate({"model": name, "messages": messages})
        ctx = RequestContext(request_id=uuid.uuid4().hex, key_id=EVAL_KEY, headers={CACHE_HEADER: "no-store"})
        try:
            body, _ = await service.complete(request, ctx)
        finally:
            record = tap.take(ctx.request_id)
        assert record is not None, "the service records every request it answers"
        return Answer(
            text=_content(body),
            target=record.target,
            latency_ms=record.latency.total_ms,
            cost_usd=record.cost_usd,
            tokens_in=record.tokens_in,
            tokens_out=record.tokens_out,
        )

    return answer


def _content(body: dict[str, Any]) -> str:
    choices = body.get("choices") or [{}]
    return str((choices[0].get("message") or {}).get("content") or "")
