"""Counters the cache keeps; the metrics module reads them, the cache never imports it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class CacheStats:
    """Monotonic counters since start, plus whether the shared store is reachable right now.

    `store_errors` counts calls to Redis that failed or timed out; `store_skipped` counts calls not
    tried because Redis failed moments ago. Both mean the request was served without the cache.
    `guarded` counts would-be semantic hits the contrast guard refused (negation, number, name,
    antonym); `evidence` the model answers the bounded rule learned from; `verify_requested` the
    semantic hits sent for verification, `verified` those checked and `verified_wrong` those the
    model answered differently.
    """

    hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    bypasses: int = 0
    stores: int = 0
    rejected: int = 0
    coalesced: int = 0
    store_errors: int = 0
    store_skipped: int = 0
    stream_errors: int = 0
    semantic_received: int = 0
    guarded: int = 0
    evidence: int = 0
    verify_requested: int = 0
    verified: int = 0
    verified_wrong: int = 0
    available: bool = True

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)
