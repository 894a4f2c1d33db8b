"""Build the gateway's dependencies from config, start them, and stop them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import faiss

from gateway.api.auth import Authenticator
from gateway.api.deps import Deps, UsageSink
from gateway.api.idempotency import Idempotency, build_keys
from gateway.cache import build_cache
from gateway.config.limits import LimitsConfig
from gateway.config.live import ConfigStore
from gateway.limits import build_limiter
from gateway.pipeline.execute import TargetRunner
from gateway.pipeline.prepare import Preparer
from gateway.pipeline.pretrain import pretrain_routes
from gateway.pipeline.resources import prepare_resources, resources_stamp
from gateway.pipeline.service import ChatService
from gateway.pipeline.target_health import TargetHealth
from gateway.promotion.gate import PromotionGate
from gateway.promotion.store import default_store_url
from gateway.providers.local_server import LocalServer
from gateway.providers.registry import ProviderRegistry
from gateway.telemetry import TracedRecorder
from gateway.usage.metrics import UsageMetrics
from gateway.usage.writer import recorder_for
from retrieval.batching import MicroBatcher
from retrieval.embedder import open_embedder
from retrieval.registry import IndexRegistry
from retrieval.tokens import TokenCounter


def build_deps(store: ConfigStore, *, recorder: UsageSink | None = None) -> Deps:
    """The configured parts (embedded defaults unless gateway.yaml names shared ones), not yet started.

    *recorder* replaces the configured request log (the eval path keeps its traffic out of it).
    """
    snapshot = store.current
    gateway = snapshot.gateway
    settings = gateway.embedder
    embedder = open_embedder(settings.model, **settings.load_options(settings.threads))
    registry = IndexRegistry(snapshot.indexes_dir, embedder.model_id, embedder.dim)
    # one query at a time searches faster on one thread than with OpenMP waking every core
    faiss.omp_set_num_threads(1)
    store.attach(lambda snap: prepare_resources(snap, registry, store.live.resources),
                 lambda snap: resources_stamp(snap, registry))
    store.gate(PromotionGate(default_store_url(snapshot)))
    batcher = MicroBatcher(embedder, settings.batch_max, settings.batch_wait_ms, cache_size=settings.cache_size,
                           sub_batch=settings.sub_batch)
    providers = ProviderRegistry(gateway.models)
    cache = build_cache(gateway.cache, embedder.dim)
    evaluating = recorder is not None
    if recorder is None:
        metrics = UsageMetrics()
        metrics.track_stats("ragway_cache", cache.stats.as_dict)
        recorder = recorder_for(gateway.log, snapshot.root.parent, metrics)
    health = TargetHealth()
    preparer = Preparer(store, batcher, cache, health)
    # the eval path's traffic is the gateway measuring itself, not a client's: no budgets apply
    limiter = build_limiter(LimitsConfig() if evaluating else gateway.limits, gateway.cache.url,
                            recorder.metrics.registry)
    service = ChatService(store, preparer, TargetRunner(providers), cache, TracedRecorder(recorder), health,
                          limiter)
    return Deps(
        config=store,
        auth=Authenticator(gateway.auth),
        providers=providers,
        batcher=batcher,
        tokens=TokenCounter(settings.model),
        cache=cache,
        service=service,
        usage=recorder,
        idempotency=Idempotency(gateway.idempotency, build_keys(gateway.idempotency, gateway.cache)),
        local_servers=[LocalServer(name, cfg) for name, cfg in gateway.local_servers.items()],
    )


@asynccontextmanager
async def running(deps: Deps, *, watch: bool = True) -> AsyncIterator[Deps]:
    """Start local model servers, cache, recorder and the config watcher; stop them on exit."""
    await asyncio.gather(*(server.start() for server in deps.local_servers))
    await deps.cache.start()
    await deps.usage.start()
    stop = asyncio.Event()
    poll_s = deps.config.current.gateway.artifacts_poll_s
    watchers = [asyncio.create_task(deps.config.watch(stop)),
                asyncio.create_task(deps.config.watch_artifacts(stop, poll_s))] if watch else []
    # Embedding a route's eval data takes a while; until it is in, the bounded cache serves no hit.
    pretraining = asyncio.create_task(pretrain_routes(deps.config.current, deps.batcher, deps.cache))
    try:
        yield deps
    finally:
        stop.set()
        pretraining.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pretraining
        for watcher in watchers:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        # verification calls still running are billed: let them finish and be logged first
        await deps.service.verifier.aclose()
        await deps.service.limiter.aclose()
        await deps.usage.aclose()
        await deps.idempotency.aclose()
        await deps.cache.aclose()
        await deps.batcher.aclose()
        await deps.service.preparer.aclose()
        await deps.providers.aclose()
        await asyncio.gather(*(server.stop() for server in deps.local_servers))
