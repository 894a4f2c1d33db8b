"""A request's worst case, reserved against its budgets and rate limits before anything is called."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config.gateway_file import ModelConfig
from gateway.config.route import ModelTarget
from gateway.limits import Ask
from gateway.pipeline.plan import Plan
from gateway.usage.pricing import approximate_tokens, price


def worst_case(plan: Plan, key_id: str, models: Mapping[str, ModelConfig], default_max_tokens: int) -> Ask:
    """The most *plan* can spend: its prompt plus max_tokens, at the priciest model the route may call.

    A cached answer costs nothing. Without max_tokens (from the client or the route's defaults) the
    answer is taken to be `limits.default_max_tokens` long.
    """
    if plan.answered_from_cache:
        return _ask(plan, key_id, tokens=0, usd=0.0)
    prompt = approximate_tokens(plan.messages)
    answer = int(plan.params.get("max_tokens") or plan.params.get("max_completion_tokens") or default_max_tokens)
    candidates = [plan.model_of(plan.decision.target)] if plan.route is None else [
        t.model for t in plan.route.config.targets.values() if isinstance(t, ModelTarget)]
    usd = max((price(models.get(m), prompt, answer, models[m].timeout_s if m in models else 0.0)
               for m in candidates), default=0.0)
    return _ask(plan, key_id, tokens=prompt + answer, usd=usd)


def _ask(plan: Plan, key_id: str, *, tokens: int, usd: float) -> Ask:
    return Ask(request_id=plan.record_id, key_id=key_id,
               route=plan.name if plan.route is not None else "", tokens=tokens, usd=usd)


