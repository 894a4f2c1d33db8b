"""One record per request, filled along the request path and written off it."""

from __future__ import annotations

from dataclasses import dataclass, field

# Values of RequestRecord.cache that mean the answer came from the cache (see the cache's response header).
CACHE_HITS = frozenset({"hit", "semantic-hit"})


@dataclass(slots=True)
class Latency:
    """Milliseconds spent in each step of the request path."""

    embed_ms: float = 0.0
    cache_ms: float = 0.0
    retrieve_ms: float = 0.0
    upstream_ttfb_ms: float = 0.0
    upstream_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(slots=True)
class RequestRecord:
    """Everything the logs, metrics and dashboard know about one request.

    `ts` is seconds since the epoch (UTC) when the request arrived. Costs are USD.
    `large_cost_usd` is what the same tokens would have cost on the route's large model.
    """

    ts: float
    request_id: str
    route: str
    route_version: str = ""
    target: str = ""
    model: str = ""
    decision: str = ""
    reason: str = ""
    cache: str = "bypass"
    retrieved_ids: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    large_cost_usd: float = 0.0
    latency: Latency = field(default_factory=Latency)
    status: int = 200
    error_type: str = ""
    key_id: str = ""
    stream: bool = False

    @property
    def cache_hit(self) -> bool:
        """True when the cache answered (`semantic-hit;score=0.93` counts as a semantic hit)."""
        return self.cache.split(";", 1)[0] in CACHE_HITS

    @property
    def failed(self) -> bool:
        """True for any 4xx/5xx answer: a client error is still an error the route's owner sees."""
        return self.status >= 400
