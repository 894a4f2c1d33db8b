"""Response cache: exact and semantic, in-process by default, Redis shared across replicas.

The request path uses it like this (NoCache has the same calls, so there is no `if cache:`):

    control = parse_cache_control(request.headers)
    lookup = await cache.lookup(CacheQuery(..., control=control))
    # or, to embed only when needed: `await cache.exact(q)` (no vector) first, and on None
    # `await cache.lookup(q_with_vector, exact_checked=True)` for the semantic tier
    if lookup.stored is not None:        # hit or semantic-hit; header: lookup.header()
        ...answer from lookup.stored.body (replay_as_stream when the client asked for a stream)
    answer = await cache.fill(q, lookup, call_upstream)   # a StoredAnswer: coalesced, stored when complete
"""

from gateway.cache.base import NoCache, ResponseCache
from gateway.cache.build import build_cache
from gateway.cache.eligibility import cacheable, storable
from gateway.cache.key import exact_key, semantic_scope
from gateway.cache.query import BYPASS, CACHE_HEADER, CacheControl, CacheLookup, CacheQuery, parse_cache_control
from gateway.cache.replay import collect_stream, replay_as_stream
from gateway.cache.singleflight import SingleFlight
from gateway.cache.stats import CacheStats
from gateway.cache.stored import StoredAnswer
from gateway.cache.tiered import TieredCache, evidence_space

__all__ = [
    "BYPASS",
    "CACHE_HEADER",
    "CacheControl",
    "CacheLookup",
    "CacheQuery",
    "CacheStats",
    "NoCache",
    "ResponseCache",
    "SingleFlight",
    "StoredAnswer",
    "TieredCache",
    "build_cache",
    "cacheable",
    "collect_stream",
    "evidence_space",
    "exact_key",
    "parse_cache_control",
    "replay_as_stream",
    "semantic_scope",
    "storable",
]
