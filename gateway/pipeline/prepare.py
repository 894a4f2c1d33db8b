"""Everything before the call: resolve the route, embed once, look in the cache, retrieve, decide."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gateway.cache import CacheLookup, CacheQuery, ResponseCache, cacheable, parse_cache_control
from gateway.config.live import ConfigStore, Live
from gateway.config.snapshot import Route
from gateway.errors import InvalidRequest, ModelNotFound, ServiceUnavailable
from gateway.pipeline.context import RequestContext
from gateway.pipeline.plan import Plan, Timings
from gateway.pipeline.resources import RouteResources
from gateway.pipeline.retrieve import NOTHING, Assembled, RetrievalJob, assemble_many, prompt_messages
from gateway.pipeline.target_health import TargetHealth
from gateway.routing import Decision, RequestFeatures, RetrievalSignals, decide
from gateway.schemas import ChatCompletionRequest
from gateway.telemetry import step
from retrieval.batch_worker import BatchWorker
from retrieval.batching import MicroBatcher

Retriever = BatchWorker[RetrievalJob, Assembled]


class Preparer:
    def __init__(self, config: ConfigStore, embedder: MicroBatcher, cache: ResponseCache, health: TargetHealth,
                 retriever: Retriever | None = None):
        self.config = config
        self.embedder = embedder
        self.cache = cache
        self.health = health
        self.retriever: Retriever = retriever or retrieval_worker()

    async def aclose(self) -> None:
        await self.retriever.aclose()

    async def prepare(self, req: ChatCompletionRequest, ctx: RequestContext) -> Plan:
        """The plan for *req*: a cached answer, or the decided target with its assembled prompt."""
        live = self.config.live
        route = live.snapshot.routes.get(req.model)
        if route is None:
            return self._direct(live, req, ctx)
        if route.name in live.resources.unavailable:
            raise ServiceUnavailable(f"route '{route.name}' is unavailable: {live.resources.unavailable[route.name]}",
                                     code="route_unavailable")
        params = route_params(route, req)
        text = embed_text(route, req, self.config.current.gateway.embedder.max_input_chars)
        query = _query(route, live.resources, req, ctx, params)
        started = time.perf_counter()
        # an exact hit is answered before the embedding, which it would not read
        lookup = await self._exact(query) if cacheable(query) else None
        vector, embed_ms = (None, 0.0) if lookup is not None or text is None else await self._embed(text)
        if lookup is None:
            query = query.with_vector(vector)
            lookup = await self._lookup(query)
        # a hit's saving is priced on the messages as sent (the large model's counterfactual cost)
        plan = Plan(name=route.name, route=route, decision=Decision("", ""), messages=query.messages, params=params,
                    resources=live.resources, request_id=ctx.request_id, vector=vector, query=query, lookup=lookup,
                    timings=Timings(embed_ms, max(_ms(started) - embed_ms, 0.0)),
                    input_text=req.last_user_text() if route.config.log_text else "")
        if plan.answered_from_cache:
            return plan
        return await self._retrieve(plan, req, ctx)

    async def _retrieve(self, plan: Plan, req: ChatCompletionRequest, ctx: RequestContext) -> Plan:
        """*plan*, a cache miss, retrieved for and decided."""
        started = time.perf_counter()
        job = self._job(plan, req)
        with step("ragway.retrieve") as span:
            # searches and prompt assembly run in the retrieval thread, batched with concurrent requests'
            assembled = await self.retriever.submit(job) if job is not None else self._unretrieved(plan, req)
            _describe(span, plan, assembled)
        return self._decide(plan, req, ctx, assembled, started)

    async def _exact(self, query: CacheQuery) -> CacheLookup | None:
        with step("ragway.cache.lookup", {"ragway.cache.tier": "exact"}) as span:
            lookup = await self.cache.exact(query)
            span.set_attribute("ragway.cache", lookup.header() if lookup is not None else "miss")
        return lookup

    async def _lookup(self, query: CacheQuery) -> CacheLookup:
        """The rest of the lookup, with the vector: the exact tier missed already, or reads nothing for *query*."""
        with step("ragway.cache.lookup", {"ragway.cache.tier": "semantic"}) as span:
            lookup = await self.cache.lookup(query, exact_checked=True)
            span.set_attribute("ragway.cache", lookup.header())
        return lookup

    async def _embed(self, text: str) -> tuple[np.ndarray, float]:
        """The vector of *text* and the milliseconds it took."""
        started = time.perf_counter()
        model = self.config.current.gateway.embedder.model
        with step("ragway.embed", {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": model}):
            vector = await self.embedder.embed(text)
        return vector, _ms(started)

    def decide(self, plan: Plan, req: ChatCompletionRequest, ctx: RequestContext) -> Plan:
        """*plan* retrieved for and decided, in this thread, for a request the cache did not answer (a
        verification call is one)."""
        started = time.perf_counter()
        job = self._job(plan, req)
        with step("ragway.retrieve") as span:
            assembled = assemble_many([job])[0] if job is not None else self._unretrieved(plan, req)
            _describe(span, plan, assembled)
        return self._decide(plan, req, ctx, assembled, started)

    def _job(self, plan: Plan, req: ChatCompletionRequest) -> RetrievalJob | None:
        """The retrieval work of *plan*; None when the route searches no index."""
        assert plan.config is not None
        settings = plan.config.retrieval
        if plan.vector is None or (settings.examples is None and settings.documents is None):
            return None
        return RetrievalJob(settings, plan.vector, plan.resources, plan.config.system_prompt, _messages(plan, req))

    def _unretrieved(self, plan: Plan, req: ChatCompletionRequest) -> Assembled:
        assert plan.config is not None
        messages, kept = prompt_messages(plan.config.system_prompt, plan.config.retrieval, NOTHING,
                                         _messages(plan, req))
        return Assembled(found=NOTHING, kept=kept, messages=messages)

    def _decide(self, plan: Plan, req: ChatCompletionRequest, ctx: RequestContext, assembled: Assembled,
                started: float) -> Plan:
        assert plan.config is not None
        config = plan.config
        retrieve_ms = _ms(started)
        features = RequestFeatures(request_id=ctx.request_id, user=req.user, text_chars=len(req.last_user_text()))
        signals = RetrievalSignals.from_hits(assembled.found.examples)
        with step("ragway.route") as route_span:
            decision = decide(config.policy, features, signals, self.health.stats(plan.name))
            route_span.set_attributes({"ragway.policy": config.policy.kind, "ragway.target": decision.target,
                                       "ragway.reason": decision.reason})
        # made directly: namedtuple._replace (a _make over a map) showed in the passthrough's profile
        timings = Timings(embed_ms=plan.timings.embed_ms, cache_ms=plan.timings.cache_ms, retrieve_ms=retrieve_ms)
        return plan.decided(decision, assembled.messages, assembled.kept, timings)

    def _direct(self, live: Live, req: ChatCompletionRequest, ctx: RequestContext) -> Plan:
        if req.model not in live.snapshot.gateway.models:
            raise ModelNotFound(
                f"model '{req.model}' is neither a route nor a configured model; GET /v1/models lists them",
                param="model",
            )
        decision = Decision(target=req.model, reason="direct: model named by the client")
        return Plan(name=req.model, route=None, decision=decision,
                    messages=[m.model_dump(exclude_none=True) for m in req.messages], params=req.upstream_params(),
                    resources=live.resources, request_id=ctx.request_id)


def retrieval_worker() -> Retriever:
    """The thread that searches and assembles prompts for batches of requests."""
    import faiss

    # OpenMP settings are per thread: left at every core, a 1-query search spins on both (14 ms CPU, not 0.8)
    return BatchWorker(assemble_many, name="retrieve", initializer=lambda: faiss.omp_set_num_threads(1))


def embed_text(route: Route, req: ChatCompletionRequest, limit: int) -> str | None:
    """The text the route embeds (the last user message), checked; None when nothing on the route reads a vector."""
    if not route.needs_vector:
        return None
    text = req.last_user_text().strip()
    if not text:
        raise InvalidRequest("the last user message is empty; this route needs text to embed", param="messages")
    if len(text) > limit:
        raise InvalidRequest(f"the last user message has {len(text)} characters; this route takes at most "
                             f"{limit}", param="messages", code="input_too_long")
    return text


def route_params(route: Route, req: ChatCompletionRequest) -> dict[str, Any]:
    """The client's parameters with the route's defaults filled in where the client sent none."""
    config = route.config
    params, unknown = req.sorted_params(route.passthrough)
    if unknown and config.unknown_params == "refuse":
        raise InvalidRequest(f"unknown parameter '{unknown[0]}': this route forwards only OpenAI chat parameters "
                             "and its passthrough_params", param=unknown[0], code="unknown_parameter")
    defaults = config.params
    if defaults.temperature is not None:
        params.setdefault("temperature", defaults.temperature)
    if defaults.max_tokens is not None and "max_tokens" not in params and "max_completion_tokens" not in params:
        params["max_tokens"] = defaults.max_tokens
    return params


def _query(route: Route, resources: RouteResources, req: ChatCompletionRequest, ctx: RequestContext,
           params: dict[str, Any]) -> CacheQuery:
    """The request as the cache sees it, before its vector exists."""
    config = route.config
    return CacheQuery(
        route=route.name, route_version=route.version, index_versions=resources.index_versions(config),
        messages=[m.model_dump(exclude_none=True) for m in req.messages], params=params, vector=None,
        settings=config.cache, control=parse_cache_control(ctx.headers), task=config.task,
        scope=ctx.key_id if config.cache.scope == "key" else "",
    )


def _describe(span: Any, plan: Plan, assembled: Assembled) -> None:
    """What the retrieval step kept, on its span (set before the span ends: an ended span drops attributes)."""
    assert plan.config is not None
    if not span.is_recording():
        return
    span.set_attributes({"ragway.retrieval.examples": len(assembled.kept.examples),
                         "ragway.retrieval.documents": len(assembled.kept.documents),
                         "ragway.index_versions": list(plan.resources.index_versions(plan.config))})


def _messages(plan: Plan, req: ChatCompletionRequest) -> list[dict[str, Any]]:
    """The client's messages as plain dicts: the cache query already holds them when it looked."""
    if plan.query is not None:
        return plan.query.messages
    return [m.model_dump(exclude_none=True) for m in req.messages]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0

