"""Seed the bounded semantic cache from each opted-in route's eval data, off the start-up path."""

from __future__ import annotations

import asyncio
import json
import logging

from gateway.cache import CacheQuery, ResponseCache
from gateway.config.snapshot import ConfigSnapshot, Route
from gateway.gold import DatasetError, load_gold
from retrieval.batching import MicroBatcher

logger = logging.getLogger(__name__)


async def pretrain_routes(snapshot: ConfigSnapshot, embedder: MicroBatcher, cache: ResponseCache) -> int:
    """Pre-train every route with `cache.semantic.pretrain`; returns the observations added."""
    added = 0
    for route in snapshot.routes.values():
        if route.config.cache.enabled and route.config.cache.semantic.pretrain:
            try:
                added += await _pretrain(snapshot, route, embedder, cache)
            except Exception:
                # evidence is an optimisation: a failure here must never take the gateway down
                logger.exception("route %s: bounded cache pre-training failed", route.name)
    return added


async def _pretrain(snapshot: ConfigSnapshot, route: Route, embedder: MicroBatcher, cache: ResponseCache) -> int:
    config = route.config
    if config.eval is None:
        logger.warning("route %s: cache.semantic.pretrain needs an eval section with data; skipped", route.name)
        return 0
    try:
        gold = load_gold(snapshot.resolve(config.eval.data), config.task, config.eval.columns)
    except DatasetError as exc:
        logger.warning("route %s: bounded cache not pre-trained: %s", route.name, exc)
        return 0
    texts = [example.input for example in gold.examples]
    answers = [e.expected if isinstance(e.expected, str) else json.dumps(e.expected) for e in gold.examples]
    vectors = await asyncio.to_thread(embedder.embedder.encode, texts)
    q = CacheQuery(route=route.name, route_version=route.version, index_versions=(), messages=[], params={},
                   vector=None, settings=config.cache, task=config.task)
    count = await cache.pretrain(q, vectors, answers)
    logger.info("route %s: bounded cache pre-trained with %d observations from %s", route.name, count,
                gold.path)
    return count
