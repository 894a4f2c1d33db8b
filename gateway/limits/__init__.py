"""Budgets and rate limits: reserve a request's worst case before the call, settle to its real cost after.

    limiter = build_limiter(config.limits, cache_url, registry)
    grant = await limiter.reserve(Ask(request_id, key_id, route, tokens=..., usd=...))  # raises a 429
    ...call upstream...
    limiter.settle(grant, tokens=used, usd=cost)        # refunds the difference, in the background

Counters live in this process by default and in Redis (one Lua script per reserve and per
settle) when replicas must share them. This package imports only gateway.config and gateway.errors.
"""

from gateway.limits.checks import Ask, Check
from gateway.limits.limiter import NO_GRANT, Grant, Limiter, build_limiter

__all__ = ["NO_GRANT", "Ask", "Check", "Grant", "Limiter", "build_limiter"]
