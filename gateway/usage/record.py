"""One record per request, filled along the request path and written off it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from gateway.ids import new_id

# Values of RequestRecord.cache that mean the answer came from the cache (see the cache's response header).
CACHE_HITS = frozenset({"hit", "semantic-hit"})
# RequestRecord.cache of a request that shared an identical request's upstream call: it costs nothing
COALESCED = "coalesced"


def is_cache_hit(cache: str) -> bool:
    """True when the cache answered (`semantic-hit;score=0.93` counts as a semantic hit)."""
    return cache.split(";", 1)[0] in CACHE_HITS


def is_failure(status: int) -> bool:
    """Any 4xx/5xx answer: a client error is still an error the route's owner sees."""
    return status >= 400


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
    `input_text` (the last user message) and `output_text` (the answer) stay empty unless the route
    opts in with `log_text: true`; they are what `ragway finetune --from-logs` learns from.
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
    input_text: str = ""
    output_text: str = ""
    # unique per record (request_id comes from the client's x-request-id when sent): a replayed spool
    # and a retried batch are written once because the store refuses a second row with the same record_id
    record_id: str = field(default_factory=new_id)

    @property
    def cache_hit(self) -> bool:
        return is_cache_hit(self.cache)

    @property
    def failed(self) -> bool:
        return is_failure(self.status)


class Sample(NamedTuple):
    """The columns of a record that summaries read; fetching only these keeps large windows quick."""

    route: str
    target: str
    model: str
    cache: str
    status: int
    ts: float
    total_ms: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    large_cost_usd: float

    @classmethod
    def of(cls, rec: RequestRecord) -> Sample:
        return cls(rec.route, rec.target, rec.model, rec.cache, rec.status, rec.ts, rec.latency.total_ms,
                   rec.tokens_in, rec.tokens_out, rec.cost_usd, rec.large_cost_usd)


class Recorder(Protocol):
    """Where finished records go (the request log, through its writer)."""

    def record(self, rec: RequestRecord) -> None: ...
