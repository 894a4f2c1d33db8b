"""The call step: run a plan's decision against its targets, with fallbacks and cascade review."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from opentelemetry.trace import SpanKind

from gateway.cache import replay_as_stream
from gateway.config.policy import CascadePolicy
from gateway.config.route import ClassifierTarget, ModelTarget
from gateway.errors import GatewayError, RateLimited, UpstreamBadStream, UpstreamError, UpstreamTimeout
from gateway.pipeline.plan import Plan
from gateway.providers.registry import ProviderRegistry
from gateway.routing import Decision, Scope, SmallAnswer, next_target, out_of_scope, review
from gateway.telemetry import response_attributes, step, upstream_attributes

Chunk = dict[str, Any]
RETRYABLE = (UpstreamError, UpstreamTimeout, RateLimited)


class TargetRunner:
    """Calls model targets through their providers and classifier targets in-process."""

    def __init__(self, providers: ProviderRegistry) -> None:
        self.providers = providers

    async def complete(self, plan: Plan) -> dict[str, Any]:
        """The answer of the first target that succeeds and passes review."""
        decision = plan.decision
        while True:
            plan.use(decision)
            try:
                body = await self._call(plan)
            except RETRYABLE as exc:
                decision = _after_failure(plan, decision, exc)
                continue
            escalation = _review(plan, decision, body)
            if escalation is None:
                return body
            decision = escalation

    async def open_stream(self, plan: Plan) -> AsyncIterator[Chunk]:
        """A stream whose first chunk has arrived; failures before it fall back like `complete`."""
        decision = plan.decision
        while True:
            plan.use(decision)
            if plan.is_classifier(plan.target):
                body = await self._call(plan)
                escalation = _review(plan, decision, body)
                if escalation is None:
                    return _aiter(replay_as_stream(body, include_usage=True))
                decision = escalation
                continue
            try:
                return await self._first_chunk(plan)
            except RETRYABLE as exc:
                decision = _after_failure(plan, decision, exc)

    async def _call(self, plan: Plan) -> dict[str, Any]:
        spec = plan.spec(plan.target)
        if isinstance(spec, ClassifierTarget):
            with step("ragway.classify", {"ragway.target": plan.target}):
                return self._classify(plan)
        model = self.providers.models[spec.model].model if spec.model in self.providers.models else spec.model
        with step(f"chat {model}", upstream_attributes(model, plan.params), SpanKind.CLIENT) as span:
            body = await self.providers.get(spec.model).complete(plan.payload())
            span.set_attributes(response_attributes(body))
        return body

    async def _first_chunk(self, plan: Plan) -> AsyncIterator[Chunk]:
        """Opens the stream; its span ends at the first chunk (the rest flows under the request's span)."""
        spec = plan.spec(plan.target)
        assert isinstance(spec, ModelTarget)
        payload = dict(plan.payload(), stream_options={"include_usage": True})
        model = self.providers.models[spec.model].model if spec.model in self.providers.models else spec.model
        attributes = {**upstream_attributes(model, plan.params), "ragway.stream": True}
        with step(f"chat {model}", attributes, SpanKind.CLIENT):
            chunks = self.providers.get(spec.model).stream(payload).__aiter__()
            first = await anext(chunks, None)
        if first is None:
            raise UpstreamBadStream(f"model '{spec.model}' answered 200 with an empty stream")
        return _prepend(first, chunks)

    def _classify(self, plan: Plan) -> dict[str, Any]:
        if plan.vector is None:
            raise UpstreamError(f"classifier target '{plan.target}' needs the request embedding")
        head = plan.resources.head(plan.name, plan.target)
        # A tuned encoder (`finetune --method encoder`) embeds the query itself; other heads share the request's.
        vector = head.encoder.encode([_last_user_text(plan)])[0] if head.encoder is not None else plan.vector
        prediction = head.predict(vector)
        plan.confidence = prediction.confidence
        plan.scope = out_of_scope(plan.config.unknown if plan.config else None,
                                  Scope(prediction.similarity, head.novelty_threshold))
        if plan.scope is not None and not plan.scope.escalate:
            plan.reason = f"{plan.reason}; {plan.scope.reason}"
            return classifier_completion(plan.record.request_id, plan.target, str(plan.scope.label))
        return classifier_completion(plan.record.request_id, plan.target, prediction.label)


def classifier_completion(request_id: str, target: str, label: str) -> dict[str, Any]:
    """A chat.completion carrying a classifier's label as the assistant's answer."""
    return {
        "id": f"chatcmpl-{request_id or uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": target,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": label}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _after_failure(plan: Plan, decision: Decision, exc: GatewayError) -> Decision:
    following = next_target(decision, decision.target, exc.code)
    if following is None:
        raise exc
    return following


def _review(plan: Plan, decision: Decision, body: dict[str, Any]) -> Decision | None:
    """For a cascade's small answer: None to keep it, or the decision to escalate."""
    config = plan.config
    if config is None or decision.escalate_to is None or not isinstance(config.policy, CascadePolicy):
        return None
    policy = config.policy
    if plan.scope is not None:
        return _scope_review(plan, policy)
    text = ((body.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
    spec = plan.spec(decision.target)
    head = plan.resources.head(plan.name, decision.target) if isinstance(spec, ClassifierTarget) else None
    labels = config.labels or (head.labels if head else ())
    verdict = review(policy, SmallAnswer(text, plan.confidence if head else None), labels, config.task,
                     calibrated=head.threshold if head else None)
    plan.reason = verdict.reason
    if not verdict.escalated:
        return None
    plan.confidence = None
    return Decision(target=verdict.target, reason=verdict.reason)


def _scope_review(plan: Plan, policy: CascadePolicy) -> Decision | None:
    """An out-of-scope small answer: kept when the route answers a fixed label, else escalated."""
    assert plan.scope is not None
    if not plan.scope.escalate:
        return None
    reason = f"cascade: {plan.scope.reason} -> {policy.large}"
    plan.reason, plan.confidence, plan.scope = reason, None, None
    return Decision(target=policy.large, reason=reason)


def _last_user_text(plan: Plan) -> str:
    for message in reversed(plan.messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
    return ""


async def _prepend(first: Chunk, rest: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    yield first
    async for chunk in rest:
        yield chunk


async def _aiter(chunks: Iterator[Chunk]) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk
