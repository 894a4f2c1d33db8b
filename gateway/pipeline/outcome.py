"""What a call came to: the answer, who gave it and why, and what it used. Made once, never changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from gateway.cache import StoredAnswer
from gateway.errors import GatewayError
from gateway.pipeline.plan import Plan


class Usage(NamedTuple):
    tokens_in: int
    tokens_out: int

    @classmethod
    def of(cls, usage: dict[str, Any] | None) -> Usage | None:
        """The tokens an OpenAI `usage` object counts; None when there is none."""
        if not usage:
            return None
        return cls(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a plan. For a stream, `body` stays empty: the answer arrives as chunks."""

    body: dict[str, Any]
    target: str
    model: str
    reason: str
    confidence: float | None = None
    usage: Usage | None = None
    # True for a request that shared another identical request's upstream call (billed on that one)
    coalesced: bool = False

    def stored(self) -> StoredAnswer:
        """What the cache keeps of it."""
        return StoredAnswer(self.body, self.target, self.model)


class Failure(Exception):
    """A call that failed for good: the error the client gets, and the target that failed last."""

    def __init__(self, error: GatewayError, last: Outcome) -> None:
        super().__init__(error.message)
        self.error = error
        self.last = last


def decided(plan: Plan) -> Outcome:
    """Who the plan's decision names, before any call."""
    target = plan.decision.target
    return Outcome({}, target, plan.model_of(target) if target else "", plan.decision.reason)


def from_cache(plan: Plan) -> Outcome:
    """The outcome of a plan the cache answered; it reports the target that first gave the answer."""
    stored = plan.lookup.stored
    assert stored is not None
    return Outcome(stored.body, stored.target or "cache", stored.model, f"cache: {plan.lookup.header()}")


def meta(plan: Plan, outcome: Outcome) -> dict[str, Any]:
    """The `ragway` extension field of a response: who answered, why, and what was retrieved."""
    found: dict[str, Any] = {
        "route": plan.name if plan.route else None,
        "route_version": plan.route.version if plan.route else None,
        "target": outcome.target,
        "model": outcome.model,
        "reason": outcome.reason,
        "cache": plan.lookup.header(),
        "retrieved": plan.retrieved.summary(),
    }
    if outcome.confidence is not None:
        found["confidence"] = round(outcome.confidence, 4)
    return found


def headers(plan: Plan, outcome: Outcome) -> dict[str, str]:
    found = {
        "x-ragway-route": plan.name if plan.route else "",
        "x-ragway-target": outcome.target,
        "x-ragway-model": outcome.model,
        "x-ragway-decision": _latin1(outcome.reason),
        "x-ragway-cache": plan.lookup.header(),
    }
    retrieved = plan.retrieved.summary()
    if retrieved:
        found["x-ragway-retrieved"] = ",".join(f"{r['id']}:{r['score']:.3f}" for r in retrieved)
    return found


def _latin1(text: str) -> str:
    # header values must be latin-1; reasons may quote labels or model text
    return text.encode("latin-1", "replace").decode("latin-1")
