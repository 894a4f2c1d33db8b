"""The request path: prepare (embed, cache, retrieve, decide) -> call -> record."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Protocol

from gateway.cache import ResponseCache, collect_stream, replay_as_stream
from gateway.config.limits import LimitsConfig
from gateway.config.store import ConfigStore
from gateway.errors import GatewayError, UpstreamBadStream
from gateway.limits import Limiter
from gateway.limits.counters import MemoryCounters
from gateway.pipeline.admission import worst_case
from gateway.pipeline.coalesce import StreamFlights
from gateway.pipeline.context import RequestContext
from gateway.pipeline.execute import TargetRunner
from gateway.pipeline.plan import Plan
from gateway.pipeline.prepare import Preparer
from gateway.pipeline.target_health import TargetHealth
from gateway.pipeline.verify import Verifier
from gateway.schemas import ChatCompletionRequest
from gateway.sse import DONE, event
from gateway.usage.pricing import approximate_tokens, fill_costs
from gateway.usage.record import COALESCED, RequestRecord

Chunk = dict[str, Any]
log = logging.getLogger("ragway.service")


class Recorder(Protocol):
    def record(self, rec: RequestRecord) -> None: ...


class ChatService:
    """Answers chat completions for routes and directly named models."""

    def __init__(self, config: ConfigStore, preparer: Preparer, runner: TargetRunner, cache: ResponseCache,
                 recorder: Recorder, health: TargetHealth, limiter: Limiter | None = None) -> None:
        self.config = config
        self.preparer = preparer
        self.runner = runner
        self.cache = cache
        self.recorder = recorder
        self.health = health
        self.verifier = Verifier(config, preparer, runner, cache, recorder)
        self.streams = StreamFlights()
        self.limiter = limiter or Limiter(LimitsConfig(), MemoryCounters())

    async def complete(self, req: ChatCompletionRequest, ctx: RequestContext) -> tuple[dict[str, Any], dict[str, str]]:
        plan = await self._prepare(req, ctx)
        await self._reserve(plan, ctx)
        started = time.perf_counter()
        try:
            body = dict(plan.lookup.response or {}) if plan.answered_from_cache else await self._call(plan)
        except GatewayError as exc:
            self._finish(plan, ctx, started, error=exc)
            raise
        if not plan.answered_from_cache:
            _take_usage(plan.record, body.get("usage"))
        body["ragway"] = plan.meta()
        self._finish(plan, ctx, started, output=_message_text(body))
        self.verifier.schedule(plan, req, ctx)
        return body, {**plan.headers(), **plan.grant.headers}

    async def open_stream(self, req: ChatCompletionRequest, ctx: RequestContext) -> tuple[AsyncIterator[bytes],
                                                                                           dict[str, str]]:
        """Start the answer stream; errors before its first chunk raise as normal HTTP errors."""
        plan = await self._prepare(req, ctx)
        plan.record.stream = True
        await self._reserve(plan, ctx)
        wants_usage = bool(req.stream_options and req.stream_options.include_usage)
        started = time.perf_counter()
        if plan.answered_from_cache:
            chunks = _aiter(replay_as_stream(plan.lookup.response or {}, include_usage=True))
            self.verifier.schedule(plan, req, ctx)
        else:
            try:
                chunks = await self._open_upstream(plan)
            except UpstreamBadStream as exc:
                # the upstream said 200: the client gets a stream too, ending in the error event
                chunks = _failing(exc)
            except GatewayError as exc:
                self._finish(plan, ctx, started, error=exc)
                raise
        ttfb = time.perf_counter()
        return self._relay(plan, ctx, chunks, started, ttfb, wants_usage), {**plan.headers(), **plan.grant.headers}

    def refuse(self, ctx: RequestContext, error: GatewayError, route: str = "") -> None:
        """Log a request refused before it had a plan: bad key, bad body, unknown route, unusable input."""
        rec = RequestRecord(ts=ctx.ts, request_id=ctx.request_id, route=route, key_id=ctx.key_id,
                            decision="refused", reason=f"refused: {error.message}", status=error.status,
                            error_type=error.code)
        rec.latency.total_ms = ctx.elapsed_ms()
        self.recorder.record(rec)

    async def _prepare(self, req: ChatCompletionRequest, ctx: RequestContext) -> Plan:
        try:
            return await self.preparer.prepare(req, ctx)
        except GatewayError as exc:
            # an unknown name is not a route: keep client typos out of the per-route figures
            known = req.model in self.config.live.snapshot.routes
            self.refuse(ctx, exc, req.model if known else "")
            raise

    async def _reserve(self, plan: Plan, ctx: RequestContext) -> None:
        """Reserve the plan's worst case against its key's and route's limits; a refusal is logged and raised."""
        if not self.limiter.active:
            return
        gateway = self.config.current.gateway
        ask = worst_case(plan, gateway.models, gateway.limits.default_max_tokens)
        try:
            plan.grant = await self.limiter.reserve(ask)
        except GatewayError as exc:
            self.refuse(ctx, exc, ask.route)
            raise

    async def _call(self, plan: Plan) -> dict[str, Any]:
        if plan.query is None:
            return await self.runner.complete(plan)
        led = False

        def lead() -> Awaitable[dict[str, Any]]:
            nonlocal led
            led = True
            return self._answer(plan)

        try:
            body = await self.cache.fill(plan.query, plan.lookup, lead)
        finally:
            plan.coalesced = not led
        if plan.coalesced:
            # a follower shared the leader's call: it reports the target that answered
            earlier = body.get("ragway") or {}
            plan.target, plan.model = earlier.get("target", plan.target), earlier.get("model", plan.model)
        return dict(body)

    async def _open_upstream(self, plan: Plan) -> AsyncIterator[Chunk]:
        """The upstream stream; identical concurrent requests (same cache key, a miss) share one."""
        if plan.query is None or plan.lookup.status != "miss" or not plan.lookup.key:
            return await self.runner.open_stream(plan)
        shared, leads = self.streams.join(plan.lookup.key, lambda: self.runner.open_stream(plan))
        if leads:
            shared.leader = plan
        else:
            plan.coalesced = True
        await shared.started()
        if plan.coalesced:
            plan.target, plan.model, plan.reason = shared.leader.target, shared.leader.model, shared.leader.reason
        return shared.follow()

    async def _answer(self, plan: Plan) -> dict[str, Any]:
        body = await self.runner.complete(plan)
        # kept with a cached copy, so a hit can say which target first answered
        body["ragway"] = {"target": plan.target, "model": plan.model}
        return body

    async def _relay(self, plan: Plan, ctx: RequestContext, chunks: AsyncIterator[Chunk], started: float,
                     ttfb: float, wants_usage: bool) -> AsyncIterator[bytes]:
        error: GatewayError | None = None
        seen: list[Chunk] = []
        try:
            async for chunk in chunks:
                if not seen:
                    chunk["ragway"] = plan.meta()
                seen.append(chunk)
                if _visible(plan, chunk, wants_usage):
                    yield event(chunk)
            if not plan.record.tokens_out and not plan.answered_from_cache:
                estimate_usage(plan, seen)
                if wants_usage:
                    yield event(_usage_chunk(plan, seen[-1] if seen else None))
            await self._store_stream(plan, seen)
        except GatewayError as exc:
            error = exc
            yield event(exc.body())
        finally:
            self._finish(plan, ctx, started, ttfb=ttfb, error=error, output=_streamed_text(seen))
        yield DONE

    async def _store_stream(self, plan: Plan, seen: list[Chunk]) -> None:
        if plan.query is None or plan.answered_from_cache or plan.coalesced or plan.lookup.status != "miss":
            return
        body = collect_stream(seen)
        body.pop("ragway", None)
        body["ragway"] = {"target": plan.target, "model": plan.model}
        await self.cache.store(plan.query, plan.lookup, body)

    def _finish(self, plan: Plan, ctx: RequestContext, started: float, *, ttfb: float | None = None,
                error: GatewayError | None = None, output: str = "") -> None:
        now = time.perf_counter()
        rec = plan.record
        if plan.config is not None and plan.config.log_text:
            rec.output_text = output
        rec.target, rec.model, rec.reason = plan.target, plan.model, plan.reason
        rec.decision, rec.cache = plan.reason.split(":", 1)[0], plan.lookup.status
        if not plan.answered_from_cache:
            rec.latency.upstream_ttfb_ms = ((ttfb or now) - started) * 1000.0
            rec.latency.upstream_ms = (now - started) * 1000.0
        if not plan.answered_from_cache and not plan.coalesced:
            self.health.note(plan.name, plan.target, error is None)
        rec.latency.total_ms = ctx.elapsed_ms()
        if error is not None:
            rec.status, rec.error_type = error.status, error.code
            log.warning("request %s on %s failed at target %s: %s %s", ctx.request_id, plan.name, plan.target,
                        error.message, error.detail)
        self._price(plan)
        if plan.coalesced:
            # the leader's record bills the one upstream call; a follower's costs nothing
            rec.cache, rec.tokens_in, rec.tokens_out, rec.cost_usd = COALESCED, 0, 0, 0.0
        self.limiter.settle(plan.grant, tokens=rec.tokens_in + rec.tokens_out, usd=rec.cost_usd)
        self.recorder.record(rec)

    def _price(self, plan: Plan) -> None:
        fill_costs(plan.record, self.config.current.gateway.models, plan.config, plan.messages)


def _visible(plan: Plan, chunk: Chunk, wants_usage: bool) -> bool:
    """Note usage from a chunk; say whether the client should see it."""
    usage = chunk.get("usage")
    if usage and not plan.answered_from_cache:
        _take_usage(plan.record, usage)
    if not chunk.get("choices") and usage:
        return wants_usage
    if not wants_usage:
        chunk.pop("usage", None)
    return True


def estimate_usage(plan: Plan, seen: list[Chunk]) -> None:
    """For upstreams that stream no usage: one token per content chunk, prompt tokens estimated."""
    plan.record.tokens_in = approximate_tokens(plan.messages)
    plan.record.tokens_out = sum(
        1 for chunk in seen for choice in chunk.get("choices") or () if (choice.get("delta") or {}).get("content")
    )


def _usage_chunk(plan: Plan, last: Chunk | None) -> Chunk:
    rec = plan.record
    usage = {"prompt_tokens": rec.tokens_in, "completion_tokens": rec.tokens_out,
             "total_tokens": rec.tokens_in + rec.tokens_out}
    base: Chunk = {k: last[k] for k in ("id", "created", "model") if last and k in last}
    return {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}


def _message_text(body: dict[str, Any]) -> str:
    return ((body.get("choices") or [{}])[0].get("message") or {}).get("content") or ""


def _streamed_text(seen: list[Chunk]) -> str:
    return "".join(
        (choice.get("delta") or {}).get("content") or ""
        for chunk in seen for choice in chunk.get("choices") or () if choice.get("index", 0) == 0
    )


def _take_usage(rec: RequestRecord, usage: dict[str, Any] | None) -> None:
    if usage:
        rec.tokens_in = int(usage.get("prompt_tokens") or 0)
        rec.tokens_out = int(usage.get("completion_tokens") or 0)


async def _aiter(chunks: Any) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk


async def _failing(error: GatewayError) -> AsyncIterator[Chunk]:
    raise error
    yield {}  # a generator that raises on its first step
