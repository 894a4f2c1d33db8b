"""A request's plan: which route, target and model answer it, with what messages, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.cache import CacheLookup, CacheQuery
from gateway.config.route import ClassifierTarget, ModelTarget, RouteConfig, Target
from gateway.config.snapshot import Route
from gateway.limits import NO_GRANT, Grant
from gateway.pipeline.resources import RouteResources
from gateway.pipeline.retrieve import NOTHING, Retrieved
from gateway.routing import Decision
from gateway.usage.record import RequestRecord

BYPASS = CacheLookup(status="bypass", response=None, score=None, key="")


@dataclass(slots=True)
class Plan:
    name: str
    route: Route | None
    decision: Decision
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    record: RequestRecord
    resources: RouteResources
    vector: np.ndarray | None = None
    retrieved: Retrieved = NOTHING
    query: CacheQuery | None = None
    lookup: CacheLookup = BYPASS
    target: str = ""
    model: str = ""
    reason: str = ""
    confidence: float | None = None
    answered_from_cache: bool = False
    # True for a request that shared another identical request's upstream call (billed on that one)
    coalesced: bool = False
    # what was reserved against budgets and rate limits, settled when the answer is recorded
    grant: Grant = NO_GRANT
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> RouteConfig | None:
        return self.route.config if self.route else None

    def spec(self, target: str) -> Target:
        """The route's target by name; a directly named model is its own only target."""
        if self.route is None:
            return ModelTarget(model=target)
        return self.route.config.targets[target]

    def use(self, decision: Decision) -> None:
        """Make *decision* the one being carried out."""
        self.decision = decision
        self.target = decision.target
        self.reason = decision.reason
        spec = self.spec(decision.target)
        self.model = spec.model if isinstance(spec, ModelTarget) else f"classifier:{spec.classifier}"

    def is_classifier(self, target: str) -> bool:
        return isinstance(self.spec(target), ClassifierTarget)

    def payload(self) -> dict[str, Any]:
        return {"messages": self.messages, **self.params}

    def meta(self) -> dict[str, Any]:
        """The `ragway` extension field of a response: who answered, why, and what was retrieved."""
        meta: dict[str, Any] = {
            "route": self.name if self.route else None,
            "route_version": self.route.version if self.route else None,
            "target": self.target,
            "model": self.model,
            "reason": self.reason,
            "cache": self.lookup.header(),
            "retrieved": self.retrieved.summary(),
        }
        if self.confidence is not None:
            meta["confidence"] = round(self.confidence, 4)
        return meta

    def headers(self) -> dict[str, str]:
        headers = {
            "x-ragway-route": self.name if self.route else "",
            "x-ragway-target": self.target,
            "x-ragway-model": self.model,
            "x-ragway-decision": _latin1(self.reason),
            "x-ragway-cache": self.lookup.header(),
        }
        found = self.retrieved.summary()
        if found:
            headers["x-ragway-retrieved"] = ",".join(f"{r['id']}:{r['score']:.3f}" for r in found)
        return headers


def _latin1(text: str) -> str:
    # header values must be latin-1; reasons may quote labels or model text
    return text.encode("latin-1", "replace").decode("latin-1")
