"""A request's plan: which route, target and model answer it, with what messages, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.config.snapshot import Route
from gateway.providers import Provider
from gateway.usage.record import RequestRecord


@dataclass(slots=True)
class Plan:
    name: str
    route: Route | None
    target: str
    model: str
    provider: Provider
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    reason: str
    record: RequestRecord
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    cache_status: str = "bypass"

    def payload(self) -> dict[str, Any]:
        return {"messages": self.messages, **self.params}

    def meta(self) -> dict[str, Any]:
        """The `ragway` extension field of a response: who answered and why."""
        return {
            "route": self.name if self.route else None,
            "route_version": self.route.version if self.route else None,
            "target": self.target,
            "model": self.model,
            "reason": self.reason,
            "cache": self.cache_status,
            "retrieved": self.retrieved,
        }

    def headers(self) -> dict[str, str]:
        headers = {
            "x-ragway-route": self.name if self.route else "",
            "x-ragway-target": self.target,
            "x-ragway-model": self.model,
            "x-ragway-decision": self.reason,
            "x-ragway-cache": self.cache_status,
        }
        if self.retrieved:
            headers["x-ragway-retrieved"] = ",".join(f"{r['id']}:{r['score']:.3f}" for r in self.retrieved)
        return headers
