"""A request's plan: which route and target answer it, with what messages, and why. Made once, never changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from gateway.cache import BYPASS, CacheLookup, CacheQuery
from gateway.config.route import ClassifierTarget, ModelTarget, RouteConfig, Target
from gateway.config.snapshot import Route
from gateway.ids import new_id
from gateway.pipeline.context import RequestContext
from gateway.pipeline.resources import RouteResources
from gateway.pipeline.retrieve import NOTHING, Retrieved
from gateway.routing import Decision
from gateway.usage.record import Latency, RequestRecord


class Timings(NamedTuple):
    """Milliseconds the preparation spent in each of its steps."""

    embed_ms: float = 0.0
    cache_ms: float = 0.0
    retrieve_ms: float = 0.0


NO_TIME = Timings()


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    route: Route | None
    decision: Decision
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    resources: RouteResources
    request_id: str = ""
    vector: np.ndarray | None = None
    retrieved: Retrieved = NOTHING
    query: CacheQuery | None = None
    lookup: CacheLookup = BYPASS
    timings: Timings = NO_TIME
    input_text: str = ""  # the last user message, kept only for routes with `log_text`
    # the request log's id for this request; budgets reserve under it before the record exists
    record_id: str = field(default_factory=new_id)

    @property
    def config(self) -> RouteConfig | None:
        return self.route.config if self.route else None

    @property
    def answered_from_cache(self) -> bool:
        return self.lookup.stored is not None

    def spec(self, target: str) -> Target:
        """The route's target by name; a directly named model is its own only target."""
        if self.route is None:
            return ModelTarget(model=target)
        return self.route.config.targets[target]

    def model_of(self, target: str) -> str:
        spec = self.spec(target)
        return spec.model if isinstance(spec, ModelTarget) else f"classifier:{spec.classifier}"

    def is_classifier(self, target: str) -> bool:
        return isinstance(self.spec(target), ClassifierTarget)

    def decided(self, decision: Decision, messages: list[dict[str, Any]], retrieved: Retrieved,
                timings: Timings) -> Plan:
        """This plan with its decision and the prompt retrieval assembled; every other field carried over.

        Written out rather than `dataclasses.replace`, whose walk over the fields was a tenth of a passthrough
        route's preparation."""
        return Plan(self.name, self.route, decision, messages, self.params, self.resources, self.request_id,
                    self.vector, retrieved, self.query, self.lookup, timings, self.input_text, self.record_id)

    def payload(self) -> dict[str, Any]:
        return {"messages": self.messages, **self.params}

    def record(self, ctx: RequestContext) -> RequestRecord:
        """The request's log record as preparation left it; the service fills in the call."""
        return RequestRecord(ts=ctx.ts, request_id=self.request_id, route=self.name if self.route else "",
                             route_version=self.route.version if self.route else "", key_id=ctx.key_id,
                             input_text=self.input_text, retrieved_ids=[r["id"] for r in self.retrieved.summary()],
                             latency=Latency(*self.timings), record_id=self.record_id)
