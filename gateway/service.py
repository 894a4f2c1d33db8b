"""The request path: resolve -> plan -> call -> record, one short function per step."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from gateway.config.route import ModelTarget
from gateway.config.snapshot import Route
from gateway.config.store import ConfigStore
from gateway.context import RequestContext
from gateway.errors import GatewayError, InvalidRequest, ModelNotFound
from gateway.plan import Plan
from gateway.providers.registry import ProviderRegistry
from gateway.schemas import ChatCompletionRequest
from gateway.sse import DONE, event
from gateway.usage.record import RequestRecord


class Recorder(Protocol):
    def record(self, rec: RequestRecord) -> None: ...


class ChatService:
    """Answers chat completions for routes and directly named models."""

    def __init__(self, config: ConfigStore, providers: ProviderRegistry, recorder: Recorder) -> None:
        self.config = config
        self.providers = providers
        self.recorder = recorder

    async def complete(self, req: ChatCompletionRequest, ctx: RequestContext) -> tuple[dict[str, Any], dict[str, str]]:
        plan = self.plan(req, ctx)
        started = time.perf_counter()
        try:
            body = await plan.provider.complete(plan.payload())
        except GatewayError as exc:
            self._finish(plan, ctx, started, error=exc)
            raise
        _take_usage(plan.record, body.get("usage"))
        body["ragway"] = plan.meta()
        self._finish(plan, ctx, started, ttfb=time.perf_counter())
        return body, plan.headers()

    async def open_stream(
        self, req: ChatCompletionRequest, ctx: RequestContext
    ) -> tuple[AsyncIterator[bytes], dict[str, str]]:
        """Start the upstream stream; errors before the first chunk raise as normal HTTP errors."""
        plan = self.plan(req, ctx)
        plan.record.stream = True
        wants_usage = bool(req.stream_options and req.stream_options.include_usage)
        payload = dict(plan.payload(), stream_options={"include_usage": True})
        started = time.perf_counter()
        chunks = plan.provider.stream(payload).__aiter__()
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = None
        except GatewayError as exc:
            self._finish(plan, ctx, started, error=exc)
            raise
        ttfb = time.perf_counter()
        return self._relay(plan, ctx, chunks, first, started, ttfb, wants_usage), plan.headers()

    async def _relay(
        self,
        plan: Plan,
        ctx: RequestContext,
        chunks: AsyncIterator[dict[str, Any]],
        first: dict[str, Any] | None,
        started: float,
        ttfb: float,
        wants_usage: bool,
    ) -> AsyncIterator[bytes]:
        error: GatewayError | None = None
        text: list[str] = []
        chunk, last = first, first
        try:
            if chunk is not None:
                chunk["ragway"] = plan.meta()
            while chunk is not None:
                last = chunk
                if _relay_chunk(plan, chunk, text, wants_usage):
                    yield event(chunk)
                chunk = await anext(chunks, None)
            if not plan.record.tokens_out:
                estimate_usage(plan, text)
                if wants_usage:
                    yield event(_usage_chunk(plan, last))
        except GatewayError as exc:
            error = exc
            yield event(exc.body())
        finally:
            self._finish(plan, ctx, started, ttfb=ttfb, error=error)
        yield DONE

    def plan(self, req: ChatCompletionRequest, ctx: RequestContext) -> Plan:
        """Resolve `model` to a route or a configured model and decide the target."""
        snapshot = self.config.current
        route = snapshot.routes.get(req.model)
        if route is not None:
            return self._route_plan(route, req, ctx)
        if req.model in snapshot.gateway.models:
            return self._model_plan(req, ctx)
        raise ModelNotFound(
            f"model '{req.model}' is neither a route nor a configured model; GET /v1/models lists them",
            param="model",
        )

    def _route_plan(self, route: Route, req: ChatCompletionRequest, ctx: RequestContext) -> Plan:
        config = route.config
        target = config.policy.target
        spec = config.targets[target]
        if not isinstance(spec, ModelTarget):
            raise InvalidRequest(f"route '{route.name}' target '{target}' is not a model target")
        record = _new_record(ctx, route.name, route.version)
        return Plan(
            name=route.name,
            route=route,
            target=target,
            model=spec.model,
            provider=self.providers.get(spec.model),
            messages=with_system_prompt(config.system_prompt, req),
            params=_route_params(route, req),
            reason=f"fixed: {target}",
            record=record,
        )

    def _model_plan(self, req: ChatCompletionRequest, ctx: RequestContext) -> Plan:
        record = _new_record(ctx, "", "")
        return Plan(
            name=req.model,
            route=None,
            target=req.model,
            model=req.model,
            provider=self.providers.get(req.model),
            messages=[m.model_dump(exclude_none=True) for m in req.messages],
            params=req.upstream_params(),
            reason="direct: model named by the client",
            record=record,
        )

    def _finish(
        self, plan: Plan, ctx: RequestContext, started: float, *, ttfb: float | None = None,
        error: GatewayError | None = None,
    ) -> None:
        now = time.perf_counter()
        rec = plan.record
        rec.target, rec.model, rec.reason, rec.cache = plan.target, plan.model, plan.reason, plan.cache_status
        rec.decision = plan.reason.split(":", 1)[0]
        rec.latency.upstream_ttfb_ms = ((ttfb or now) - started) * 1000.0
        rec.latency.upstream_ms = (now - started) * 1000.0
        rec.latency.total_ms = ctx.elapsed_ms()
        if error is not None:
            rec.status, rec.error_type = error.status, error.code
        self.recorder.record(rec)


def _new_record(ctx: RequestContext, route: str, version: str) -> RequestRecord:
    return RequestRecord(ts=ctx.ts, request_id=ctx.request_id, route=route, route_version=version, key_id=ctx.key_id)


def with_system_prompt(system_prompt: str, req: ChatCompletionRequest) -> list[dict[str, Any]]:
    """The route's system prompt first; a client's own system message follows it."""
    messages = [m.model_dump(exclude_none=True) for m in req.messages]
    if not system_prompt:
        return messages
    return [{"role": "system", "content": system_prompt}, *messages]


def _route_params(route: Route, req: ChatCompletionRequest) -> dict[str, Any]:
    params = req.upstream_params()
    defaults = route.config.params
    if defaults.temperature is not None:
        params.setdefault("temperature", defaults.temperature)
    if defaults.max_tokens is not None and "max_tokens" not in params and "max_completion_tokens" not in params:
        params["max_tokens"] = defaults.max_tokens
    return params


def _relay_chunk(plan: Plan, chunk: dict[str, Any], text: list[str], wants_usage: bool) -> bool:
    """Note usage and text from a chunk; say whether the client should see it."""
    usage = chunk.get("usage")
    if usage:
        _take_usage(plan.record, usage)
    for choice in chunk.get("choices") or ():
        content = (choice.get("delta") or {}).get("content")
        if content:
            text.append(content)
    if not chunk.get("choices") and usage:
        return wants_usage
    if not wants_usage:
        chunk.pop("usage", None)
    return True


def _take_usage(rec: RequestRecord, usage: dict[str, Any] | None) -> None:
    if usage:
        rec.tokens_in = int(usage.get("prompt_tokens") or 0)
        rec.tokens_out = int(usage.get("completion_tokens") or 0)


def estimate_usage(plan: Plan, text: list[str]) -> None:
    """For upstreams that stream no usage: one token per content chunk, prompt tokens estimated."""
    prompt = "".join(str(m.get("content") or "") for m in plan.messages)
    plan.record.tokens_in = approx_tokens(prompt) + 4 * len(plan.messages)
    plan.record.tokens_out = len(text)


def _usage_chunk(plan: Plan, last: dict[str, Any] | None) -> dict[str, Any]:
    rec = plan.record
    usage = {"prompt_tokens": rec.tokens_in, "completion_tokens": rec.tokens_out,
             "total_tokens": rec.tokens_in + rec.tokens_out}
    base = {k: last[k] for k in ("id", "created", "model") if last and k in last}
    return {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}


def approx_tokens(text: str) -> int:
    """About four characters a token, for upstreams that report no usage."""
    return max(1, len(text) // 4)
