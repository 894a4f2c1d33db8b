"""Everything before the call: resolve the route, embed once, look in the cache, retrieve, decide."""

from __future__ import annotations

import time
from typing import Any

from gateway.cache import CacheQuery, ResponseCache, parse_cache_control
from gateway.config.policy import CascadePolicy, RetrievalPolicy
from gateway.config.route import ClassifierTarget, RouteConfig
from gateway.config.snapshot import Route
from gateway.config.store import ConfigStore, Live
from gateway.errors import InvalidRequest, ModelNotFound, ServiceUnavailable
from gateway.pipeline.context import RequestContext
from gateway.pipeline.plan import Plan
from gateway.pipeline.retrieve import NOTHING, Assembled, RetrievalJob, assemble_many, prompt_messages
from gateway.pipeline.target_health import TargetHealth
from gateway.routing import Decision, RequestFeatures, RetrievalSignals, decide
from gateway.schemas import ChatCompletionRequest
from gateway.telemetry import step
from gateway.usage.record import RequestRecord
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
        plan = Plan(name=route.name, route=route, decision=Decision("", ""), messages=[],
                    params=route_params(route.config, req), record=_record(ctx, route, req), resources=live.resources)
        await self._embed(plan, req)
        await self._lookup(plan, req, ctx)
        if plan.answered_from_cache:
            return plan
        await self._retrieve_and_decide(plan, req, ctx)
        return plan

    async def _embed(self, plan: Plan, req: ChatCompletionRequest) -> None:
        assert plan.config is not None
        if not needs_vector(plan.config):
            return
        text = req.last_user_text().strip()
        limit = self.config.current.gateway.embedder.max_input_chars
        if not text:
            raise InvalidRequest("the last user message is empty; this route needs text to embed", param="messages")
        if len(text) > limit:
            raise InvalidRequest(f"the last user message has {len(text)} characters; this route takes at most "
                                 f"{limit}", param="messages", code="input_too_long")
        started = time.perf_counter()
        model = self.config.current.gateway.embedder.model
        with step("ragway.embed", {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": model}):
            plan.vector = await self.embedder.embed(text)
        plan.record.latency.embed_ms = _ms(started)

    async def _lookup(self, plan: Plan, req: ChatCompletionRequest, ctx: RequestContext) -> None:
        assert plan.route is not None and plan.config is not None
        started = time.perf_counter()
        plan.query = CacheQuery(
            route=plan.name, route_version=plan.route.version,
            index_versions=plan.resources.index_versions(plan.config),
            messages=[m.model_dump(exclude_none=True) for m in req.messages], params=plan.params,
            vector=plan.vector, settings=plan.config.cache, control=parse_cache_control(ctx.headers),
            task=plan.config.task, scope=ctx.key_id if plan.config.cache.scope == "key" else "",
        )
        with step("ragway.cache.lookup") as span:
            plan.lookup = await self.cache.lookup(plan.query)
            span.set_attribute("ragway.cache", plan.lookup.header())
        plan.record.latency.cache_ms = _ms(started)
        if plan.lookup.response is not None:
            plan.answered_from_cache = True
            # what the hit saved is priced on these (the large model's counterfactual cost)
            plan.messages = plan.query.messages
            earlier = plan.lookup.response.get("ragway") or {}
            plan.target, plan.model = earlier.get("target", "cache"), earlier.get("model", "")
            plan.reason = f"cache: {plan.lookup.header()}"

    def decide(self, plan: Plan, req: ChatCompletionRequest, ctx: RequestContext) -> None:
        """Retrieve and decide for a plan the cache did not answer (a verification call is one), in this thread."""
        started = time.perf_counter()
        job = self._job(plan, req)
        with step("ragway.retrieve") as span:
            assembled = assemble_many([job])[0] if job is not None else self._unretrieved(plan, req)
        self._decide(plan, req, ctx, assembled, span, started)

    async def _retrieve_and_decide(self, plan: Plan, req: ChatCompletionRequest, ctx: RequestContext) -> None:
        started = time.perf_counter()
        job = self._job(plan, req)
        with step("ragway.retrieve") as span:
            # searches and prompt assembly run in the retrieval thread, batched with concurrent requests'
            assembled = await self.retriever.submit(job) if job is not None else self._unretrieved(plan, req)
        self._decide(plan, req, ctx, assembled, span, started)

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
                span: Any, started: float) -> None:
        assert plan.config is not None
        config = plan.config
        plan.messages, kept = assembled.messages, assembled.kept
        span.set_attributes({"ragway.retrieval.examples": len(kept.examples),
                             "ragway.retrieval.documents": len(kept.documents),
                             "ragway.index_versions": list(plan.resources.index_versions(config))})
        plan.record.latency.retrieve_ms = _ms(started)
        features = RequestFeatures(request_id=ctx.request_id, user=req.user, text_chars=len(req.last_user_text()))
        signals = RetrievalSignals.from_hits(assembled.found.examples)
        with step("ragway.route") as route_span:
            plan.decision = decide(config.policy, features, signals, self.health.stats(plan.name))
            route_span.set_attributes({"ragway.policy": config.policy.kind, "ragway.target": plan.decision.target,
                                       "ragway.reason": plan.decision.reason})
        plan.retrieved = kept
        plan.record.retrieved_ids = [r["id"] for r in kept.summary()]
        plan.use(plan.decision)

    def _direct(self, live: Live, req: ChatCompletionRequest, ctx: RequestContext) -> Plan:
        if req.model not in live.snapshot.gateway.models:
            raise ModelNotFound(
                f"model '{req.model}' is neither a route nor a configured model; GET /v1/models lists them",
                param="model",
            )
        record = RequestRecord(ts=ctx.ts, request_id=ctx.request_id, route="", key_id=ctx.key_id)
        decision = Decision(target=req.model, reason="direct: model named by the client")
        plan = Plan(name=req.model, route=None, decision=decision, messages=[m.model_dump(exclude_none=True)
                    for m in req.messages], params=req.upstream_params(), record=record, resources=live.resources)
        plan.use(decision)
        return plan


def retrieval_worker() -> Retriever:
    """The thread that searches and assembles prompts for batches of requests."""
    import faiss

    # OpenMP settings are per thread: left at every core, a 1-query search spins on both (14 ms CPU, not 0.8)
    return BatchWorker(assemble_many, name="retrieve", initializer=lambda: faiss.omp_set_num_threads(1))


def needs_vector(config: RouteConfig) -> bool:
    """Whether anything on this route reads the request embedding."""
    retrieval = config.retrieval.examples is not None or config.retrieval.documents is not None
    semantic = config.cache.enabled and config.cache.threshold_for(config.task) is not None
    policy = isinstance(config.policy, CascadePolicy | RetrievalPolicy)
    classifier = any(isinstance(t, ClassifierTarget) for t in config.targets.values())
    return retrieval or semantic or policy or classifier


def route_params(config: RouteConfig, req: ChatCompletionRequest) -> dict[str, Any]:
    """The client's parameters with the route's defaults filled in where the client sent none."""
    passthrough = frozenset(config.passthrough_params)
    unknown = req.unknown_params(passthrough) if config.unknown_params == "refuse" else []
    if unknown:
        raise InvalidRequest(f"unknown parameter '{unknown[0]}': this route forwards only OpenAI chat parameters "
                             "and its passthrough_params", param=unknown[0], code="unknown_parameter")
    params = req.upstream_params(passthrough)
    defaults = config.params
    if defaults.temperature is not None:
        params.setdefault("temperature", defaults.temperature)
    if defaults.max_tokens is not None and "max_tokens" not in params and "max_completion_tokens" not in params:
        params["max_tokens"] = defaults.max_tokens
    return params


def _record(ctx: RequestContext, route: Route, req: ChatCompletionRequest) -> RequestRecord:
    return RequestRecord(ts=ctx.ts, request_id=ctx.request_id, route=route.name, route_version=route.version,
                         key_id=ctx.key_id, input_text=req.last_user_text() if route.config.log_text else "")


def _messages(plan: Plan, req: ChatCompletionRequest) -> list[dict[str, Any]]:
    """The client's messages as plain dicts: the cache query already holds them when it looked."""
    if plan.query is not None:
        return plan.query.messages
    return [m.model_dump(exclude_none=True) for m in req.messages]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0

