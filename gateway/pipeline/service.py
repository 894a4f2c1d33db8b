"""The request path: prepare (embed, cache, retrieve, decide) -> reserve -> call -> record."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.cache import ResponseCache, StoredAnswer, collect_stream
from gateway.config.limits import LimitsConfig
from gateway.config.live import ConfigStore
from gateway.errors import GatewayError, UpstreamBadStream
from gateway.limits import NO_GRANT, Grant, Limiter, build_limiter
from gateway.pipeline.admission import worst_case
from gateway.pipeline.coalesce import StreamFlights
from gateway.pipeline.context import RequestContext
from gateway.pipeline.execute import TargetRunner, replayed
from gateway.pipeline.outcome import Failure, Outcome, Usage, decided, from_cache, headers, meta
from gateway.pipeline.plan import Plan
from gateway.pipeline.prepare import Preparer
from gateway.pipeline.target_health import TargetHealth
from gateway.pipeline.verify import Verifier
from gateway.schemas import ChatCompletionRequest
from gateway.sse import DONE, event
from gateway.usage.pricing import approximate_tokens, fill_costs
from gateway.usage.record import COALESCED, Recorder, RequestRecord

Chunk = dict[str, Any]
log = logging.getLogger("ragway.service")


@dataclass(frozen=True, slots=True)
class Call:
    """When the call started (and its first byte came), and what it reserved against budgets and rate limits."""

    started: float
    grant: Grant
    ttfb: float | None = None


@dataclass(eq=False)
class ChatService:
    """Answers chat completions for routes and directly named models."""

    config: ConfigStore
    preparer: Preparer
    runner: TargetRunner
    cache: ResponseCache
    recorder: Recorder
    health: TargetHealth
    limiter: Limiter = field(default_factory=lambda: build_limiter(LimitsConfig(), "memory://"))
    streams: StreamFlights = field(default_factory=StreamFlights, init=False)
    verifier: Verifier = field(init=False)

    def __post_init__(self) -> None:
        self.verifier = Verifier(self.config, self.preparer, self.runner, self.cache, self.recorder)

    async def complete(self, req: ChatCompletionRequest, ctx: RequestContext) -> tuple[dict[str, Any], dict[str, str]]:
        plan = await self._prepare(req, ctx)
        call = Call(time.perf_counter(), await self._reserve(plan, ctx))
        try:
            outcome = from_cache(plan) if plan.answered_from_cache else await self._call(plan)
        except Failure as failed:
            self._finish(plan, ctx, failed.last, call, error=failed.error)
            raise failed.error from None
        self._finish(plan, ctx, outcome, call, output=_message_text(outcome.body))
        self.verifier.schedule(plan, req, ctx)
        return {**outcome.body, "ragway": meta(plan, outcome)}, {**headers(plan, outcome), **call.grant.headers}

    async def open_stream(self, req: ChatCompletionRequest, ctx: RequestContext) -> tuple[AsyncIterator[bytes],
                                                                                           dict[str, str]]:
        """Start the answer stream; errors before its first chunk raise as normal HTTP errors."""
        plan = await self._prepare(req, ctx)
        call = Call(time.perf_counter(), await self._reserve(plan, ctx))
        wants_usage = bool(req.stream_options and req.stream_options.include_usage)
        if plan.answered_from_cache:
            head = replace(from_cache(plan), body={})
            chunks = replayed(plan.lookup.response or {})
            self.verifier.schedule(plan, req, ctx)
        else:
            try:
                head, chunks = await self._open_upstream(plan)
            except Failure as failed:
                if not isinstance(failed.error, UpstreamBadStream):
                    self._finish(plan, ctx, failed.last, call, error=failed.error, stream=True)
                    raise failed.error from None
                # the upstream said 200: the client gets a stream too, ending in the error event
                head, chunks = failed.last, _failing(failed.error)
        call = replace(call, ttfb=time.perf_counter())
        return self._relay(plan, ctx, head, chunks, call, wants_usage), {**headers(plan, head), **call.grant.headers}

    def refuse(self, ctx: RequestContext, error: GatewayError, route: str = "", endpoint: str = "") -> None:
        """Log a request refused before it had a plan: bad key, bad body, unknown route, unusable input, limits.

        Every refusal on every endpoint is logged here, once; *endpoint* ("GET /metrics") names where, for
        the requests no route answers."""
        reason = f"refused: {endpoint}: {error.message}" if endpoint else f"refused: {error.message}"
        rec = RequestRecord(ts=ctx.ts, request_id=ctx.request_id, route=route, key_id=ctx.key_id,
                            decision="refused", reason=reason, status=error.status, error_type=error.code)
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

    async def _reserve(self, plan: Plan, ctx: RequestContext) -> Grant:
        """Reserve the plan's worst case against its key's and route's limits; a refusal is logged and raised."""
        if not self.limiter.active:
            return NO_GRANT
        gateway = self.config.current.gateway
        ask = worst_case(plan, ctx.key_id, gateway.models, gateway.limits.default_max_tokens)
        try:
            return await self.limiter.reserve(ask)
        except GatewayError as exc:
            self.refuse(ctx, exc, ask.route)
            raise

    async def _call(self, plan: Plan) -> Outcome:
        """The answer to a cache miss; identical concurrent requests (same cache key) share one call."""
        if plan.query is None or not plan.lookup.key:
            # nothing to share or to store: a request the cache never keeps (its key is empty) calls straight
            return await self.runner.complete(plan)
        led: Outcome | None = None
        leading = False

        async def lead() -> StoredAnswer:
            nonlocal led, leading
            leading = True
            led = await self.runner.complete(plan)
            return led.stored()

        try:
            stored = await self.cache.fill(plan.query, plan.lookup, lead)
        except Failure as failed:
            if leading:
                raise
            raise Failure(failed.error, replace(failed.last, coalesced=True)) from None
        if led is not None:
            return led
        # a follower shared the leader's call: it reports the target that answered
        return Outcome(stored.body, stored.target, stored.model, plan.decision.reason,
                       usage=Usage.of(stored.body.get("usage")), coalesced=True)

    async def _open_upstream(self, plan: Plan) -> tuple[Outcome, AsyncIterator[Chunk]]:
        """Who answers, and the upstream stream; identical concurrent requests (same cache key, a miss) share one."""
        if plan.query is None or plan.lookup.status != "miss" or not plan.lookup.key:
            return await self.runner.open_stream(plan)

        async def open_leading() -> AsyncIterator[Chunk]:
            try:
                head, chunks = await self.runner.open_stream(plan)
            except Failure as failed:
                shared.leader = failed.last
                raise failed.error from None
            shared.leader = head
            return chunks

        shared, leads = self.streams.join(plan.lookup.key, open_leading)
        try:
            await shared.started()
        except GatewayError as exc:
            raise Failure(exc, replace(shared.leader or decided(plan), coalesced=not leads)) from None
        return replace(shared.leader, coalesced=not leads), shared.follow()

    async def _relay(self, plan: Plan, ctx: RequestContext, head: Outcome, chunks: AsyncIterator[Chunk],
                     call: Call, wants_usage: bool) -> AsyncIterator[bytes]:
        error: GatewayError | None = None
        seen: list[Chunk] = []
        usage: Usage | None = None
        try:
            async for chunk in chunks:
                if not plan.answered_from_cache:
                    usage = Usage.of(chunk.get("usage")) or usage
                shown = _shown(chunk, wants_usage)
                if shown is not None:
                    yield event({**shown, "ragway": meta(plan, head)} if not seen else shown)
                seen.append(chunk)
            if not (usage and usage.tokens_out) and not plan.answered_from_cache:
                usage = estimate_usage(plan, seen)
                if wants_usage:
                    yield event(_usage_chunk(usage, seen[-1] if seen else None))
            await self._store_stream(plan, head, seen)
        except GatewayError as exc:
            error = exc
            yield event(exc.body())
        finally:
            self._finish(plan, ctx, replace(head, usage=usage), call, error=error, output=_streamed_text(seen),
                         stream=True)
        yield DONE

    async def _store_stream(self, plan: Plan, head: Outcome, seen: list[Chunk]) -> None:
        if plan.query is None or plan.answered_from_cache or head.coalesced or plan.lookup.status != "miss":
            return
        await self.cache.store(plan.query, plan.lookup, StoredAnswer(collect_stream(seen), head.target, head.model))

    def _finish(self, plan: Plan, ctx: RequestContext, outcome: Outcome, call: Call, *,
                error: GatewayError | None = None, output: str = "", stream: bool = False) -> None:
        """Record the request, note the target's health and settle its reservation."""
        rec = _record(plan, ctx, outcome, call, output, stream)
        if not plan.answered_from_cache and not outcome.coalesced:
            self.health.note(plan.name, outcome.target, error is None)
        if error is not None:
            rec.status, rec.error_type = error.status, error.code
            log.warning("request %s on %s failed at target %s: %s %s", ctx.request_id, plan.name, outcome.target,
                        error.message, error.detail)
        fill_costs(rec, self.config.current.gateway.models, plan.config, plan.messages)
        if outcome.coalesced:
            # the leader's record bills the one upstream call; a follower's costs nothing
            rec.cache, rec.tokens_in, rec.tokens_out, rec.cost_usd = COALESCED, 0, 0, 0.0
        self.limiter.settle(call.grant, tokens=rec.tokens_in + rec.tokens_out, usd=rec.cost_usd)
        self.recorder.record(rec)


def _record(plan: Plan, ctx: RequestContext, outcome: Outcome, call: Call, output: str, stream: bool) -> RequestRecord:
    now = time.perf_counter()
    rec = plan.record(ctx)
    rec.stream = stream
    if plan.config is not None and plan.config.log_text:
        rec.output_text = output
    rec.target, rec.model, rec.reason = outcome.target, outcome.model, outcome.reason
    rec.decision, rec.cache = outcome.reason.split(":", 1)[0], plan.lookup.status
    if outcome.usage is not None:
        rec.tokens_in, rec.tokens_out = outcome.usage
    if not plan.answered_from_cache:
        rec.latency.upstream_ttfb_ms = ((call.ttfb or now) - call.started) * 1000.0
        rec.latency.upstream_ms = (now - call.started) * 1000.0
    rec.latency.total_ms = ctx.elapsed_ms()
    return rec


def _shown(chunk: Chunk, wants_usage: bool) -> Chunk | None:
    """The chunk as the client sees it, or None for a usage-only chunk the client did not ask for."""
    if not chunk.get("choices") and chunk.get("usage"):
        return chunk if wants_usage else None
    if not wants_usage and "usage" in chunk:
        return {k: v for k, v in chunk.items() if k != "usage"}
    return chunk


def estimate_usage(plan: Plan, seen: list[Chunk]) -> Usage:
    """For upstreams that stream no usage: one token per content chunk, prompt tokens estimated."""
    tokens_out = sum(
        1 for chunk in seen for choice in chunk.get("choices") or () if (choice.get("delta") or {}).get("content")
    )
    return Usage(approximate_tokens(plan.messages), tokens_out)


def _usage_chunk(usage: Usage, last: Chunk | None) -> Chunk:
    counts = {"prompt_tokens": usage.tokens_in, "completion_tokens": usage.tokens_out,
              "total_tokens": usage.tokens_in + usage.tokens_out}
    base: Chunk = {k: last[k] for k in ("id", "created", "model") if last and k in last}
    return {**base, "object": "chat.completion.chunk", "choices": [], "usage": counts}


def _message_text(body: dict[str, Any]) -> str:
    return ((body.get("choices") or [{}])[0].get("message") or {}).get("content") or ""


def _streamed_text(seen: list[Chunk]) -> str:
    return "".join(
        (choice.get("delta") or {}).get("content") or ""
        for chunk in seen for choice in chunk.get("choices") or () if choice.get("index", 0) == 0
    )


async def _failing(error: GatewayError) -> AsyncIterator[Chunk]:
    raise error
    yield {}  # a generator that raises on its first step
