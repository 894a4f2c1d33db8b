"""Which requests may be cached, and which responses may be stored."""

from __future__ import annotations

from typing import Any

from gateway.cache.query import CacheControl, CacheQuery

# A stream that ended without a finish_reason (None) was cut off; "error" is how some
# providers mark a failed generation inside a 200 response.
_UNFINISHED = frozenset({None, "error"})


def cacheable(q: CacheQuery) -> bool:
    """True when the route caches and this request should always get the same answer.

    Temperature 0 is deterministic. An absent temperature means the provider default, which is
    nonzero, so such requests are cached only when the route sets `cache_nonzero_temperature`.
    """
    if not q.settings.enabled or q.control is CacheControl.NO_STORE:
        return False
    if q.settings.cache_nonzero_temperature:
        return True
    temperature = q.params.get("temperature")
    return temperature is not None and float(temperature) == 0.0


def storable(response: dict[str, Any]) -> bool:
    """True for a complete chat.completion: choices present, each finished, no error body."""
    if "error" in response:
        return False
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(isinstance(choice, dict) and choice.get("finish_reason") not in _UNFINISHED for choice in choices)
