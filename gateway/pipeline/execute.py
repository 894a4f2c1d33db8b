"""The call step: run a plan's decision against its targets, with fallbacks and cascade review."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from opentelemetry.trace import SpanKind

from gateway.cache import replay_as_stream
from gateway.config.policy import CascadePolicy
from gateway.config.route import ClassifierTarget, ModelTarget
from gateway.errors import GatewayError, RateLimited, UpstreamBadStream, UpstreamError, UpstreamTimeout
from gateway.ids import new_id
from gateway.pipeline.outcome import Failure, Outcome, Usage
from gateway.pipeline.plan import Plan
from gateway.providers.registry import ProviderRegistry
from gateway.routing import Decision, OutOfScope, Scope, SmallAnswer, next_target, out_of_scope, review
from gateway.telemetry import response_attributes, step, upstream_attributes

Chunk = dict[str, Any]
RETRYABLE = (UpstreamError, UpstreamTimeout, RateLimited)


class TargetRunner:
    """Calls model targets through their providers and classifier targets in-process.

    Both calls raise `Failure` when no target is left to try, naming the target that failed last.
    """

    def __init__(self, providers: ProviderRegistry) -> None:
        self.providers = providers

    async def complete(self, plan: Plan) -> Outcome:
        """The answer of the first target that succeeds and passes review."""
        decision = plan.decision
        while True:
            step = await self._try(plan, decision)
            if isinstance(step, Outcome):
                return step
            decision = step

    async def open_stream(self, plan: Plan) -> tuple[Outcome, AsyncIterator[Chunk]]:
        """Who answers, and a stream whose first chunk has arrived; failures before it fall back like `complete`."""
        decision = plan.decision
        while True:
            if plan.is_classifier(decision.target):
                step = await self._try(plan, decision)
                if isinstance(step, Outcome):
                    return replace(step, body={}), replayed(step.body)
                decision = step
                continue
            try:
                return _attempt(plan, decision), await self._first_chunk(plan, decision.target)
            except GatewayError as exc:
                decision = _after_failure(plan, decision, exc)

    async def _try(self, plan: Plan, decision: Decision) -> Outcome | Decision:
        """One target's answer if it is kept; else the decision to carry out next (a fallback, an escalation)."""
        try:
            outcome, scope = await self._call(plan, decision)
        except GatewayError as exc:
            return _after_failure(plan, decision, exc)
        return _review(plan, decision, outcome, scope)

    async def _call(self, plan: Plan, decision: Decision) -> tuple[Outcome, OutOfScope | None]:
        spec = plan.spec(decision.target)
        if isinstance(spec, ClassifierTarget):
            with step("ragway.classify", {"ragway.target": decision.target}):
                return self._classify(plan, decision)
        model = self.providers.models[spec.model].model if spec.model in self.providers.models else spec.model
        with step(f"chat {model}", upstream_attributes(model, plan.params), SpanKind.CLIENT) as span:
            body = await self.providers.get(spec.model).complete(plan.payload())
            span.set_attributes(response_attributes(body))
        return _attempt(plan, decision, body), None

    async def _first_chunk(self, plan: Plan, target: str) -> AsyncIterator[Chunk]:
        """Opens the stream; its span ends at the first chunk (the rest flows under the request's span)."""
        spec = plan.spec(target)
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

    def _classify(self, plan: Plan, decision: Decision) -> tuple[Outcome, OutOfScope | None]:
        if plan.vector is None:
            raise UpstreamError(f"classifier target '{decision.target}' needs the request embedding")
        head = plan.resources.head(plan.name, decision.target)
        # A tuned encoder (`finetune --method encoder`) embeds the query itself; other heads share the request's.
        vector = head.encoder.encode([_last_user_text(plan)])[0] if head.encoder is not None else plan.vector
        prediction = head.predict(vector)
        scope = out_of_scope(plan.config.unknown if plan.config else None,
                             Scope(prediction.similarity, head.novelty_threshold))
        label, reason = prediction.label, decision.reason
        if scope is not None and not scope.escalate:
            label, reason = str(scope.label), f"{reason}; {scope.reason}"
        body = classifier_completion(plan.request_id, decision.target, label)
        outcome = Outcome(body, decision.target, plan.model_of(decision.target), reason, prediction.confidence,
                          Usage(0, 0))
        return outcome, scope


def classifier_completion(request_id: str, target: str, label: str) -> dict[str, Any]:
    """A chat.completion carrying a classifier's label as the assistant's answer."""
    return {
        "id": f"chatcmpl-{request_id or new_id()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": target,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": label}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _attempt(plan: Plan, decision: Decision, body: dict[str, Any] | None = None) -> Outcome:
    """The decision's target, with its answer *body* when it gave one (built at once: a replace() per call
    showed in the passthrough's profile)."""
    body = {} if body is None else body
    return Outcome(body, decision.target, plan.model_of(decision.target), decision.reason,
                   usage=Usage.of(body.get("usage")))


def _after_failure(plan: Plan, decision: Decision, exc: GatewayError) -> Decision:
    following = next_target(decision, decision.target, exc.code) if isinstance(exc, RETRYABLE) else None
    if following is None:
        raise Failure(exc, _attempt(plan, decision)) from exc
    return following


def _review(plan: Plan, decision: Decision, outcome: Outcome, scope: OutOfScope | None) -> Outcome | Decision:
    """For a cascade's small answer: the outcome to keep, or the decision to escalate to."""
    config = plan.config
    if config is None or decision.escalate_to is None or not isinstance(config.policy, CascadePolicy):
        return outcome
    policy = config.policy
    if scope is not None:
        # out of scope: kept when the route answers a fixed label, else escalated
        if not scope.escalate:
            return outcome
        return Decision(target=policy.large, reason=f"cascade: {scope.reason} -> {policy.large}")
    text = ((outcome.body.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
    head = plan.resources.head(plan.name, decision.target) if plan.is_classifier(decision.target) else None
    labels = config.labels or (head.labels if head else ())
    verdict = review(policy, SmallAnswer(text, outcome.confidence if head else None), labels, config.task,
                     calibrated=head.threshold if head else None)
    if verdict.escalated:
        return Decision(target=verdict.target, reason=verdict.reason)
    return replace(outcome, reason=verdict.reason)


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


async def replayed(body: dict[str, Any]) -> AsyncIterator[Chunk]:
    """A complete answer (a classifier's, a cached one) as the chunks of a stream, usage last."""
    for chunk in replay_as_stream(body, include_usage=True):
        yield chunk
