"""What the request path asks the cache (CacheQuery) and what it answers (CacheLookup)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

import numpy as np

from gateway.cache.bounded import Cell
from gateway.cache.stored import StoredAnswer
from gateway.config.route_sections import CacheSettings
from gateway.errors import InvalidRequest

LookupStatus = Literal["hit", "semantic-hit", "miss", "bypass"]
CACHE_HEADER = "x-ragway-cache"


class CacheControl(StrEnum):
    """Per-request control: read and write (normal), write only (refresh), or neither (no_store)."""

    NORMAL = "normal"
    REFRESH = "refresh"
    NO_STORE = "no_store"


# The strongest directive wins when a request sends several.
_STRENGTH = {CacheControl.NORMAL: 0, CacheControl.REFRESH: 1, CacheControl.NO_STORE: 2}
_RAGWAY_VALUES = {
    "refresh": CacheControl.REFRESH,
    "no-cache": CacheControl.REFRESH,
    "no-store": CacheControl.NO_STORE,
    "bypass": CacheControl.NO_STORE,
}


@dataclass(frozen=True)
class CacheQuery:
    """One request as the cache sees it.

    `params` holds every parameter that can change the output, with route defaults applied.
    `vector` is the request embedding the gateway already computed (float32, L2-normalised).
    `task` picks the route type's default semantic threshold.
    `scope` is the client key id when the route's cache is per key, empty when it is global: entries of
    one scope are never served to another.
    """

    route: str
    route_version: str
    index_versions: tuple[str, ...]
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    vector: np.ndarray | None
    settings: CacheSettings
    control: CacheControl = CacheControl.NORMAL
    task: str = "generation"
    scope: str = ""

    def with_vector(self, vector: np.ndarray | None) -> CacheQuery:
        """This query with the request's *vector*; itself when there is none (a route that embeds nothing) or
        when the route caches nothing, so no tier reads it."""
        return self if vector is None or not self.settings.enabled else replace(self, vector=vector)


@dataclass(frozen=True)
class CacheLookup:
    """The cache's answer. `key` is empty when the request must not be cached at all.

    For a semantic hit, `rule` served it with `error` its estimated wrong-hit share (an upper bound,
    None before any evidence) and `verify` asks the gateway to check it against the model. For a
    hit or a miss with a semantic candidate, `cell` and `answer` are where the model's answer is
    evidence (`CacheLookup.learns`).
    """

    status: LookupStatus
    stored: StoredAnswer | None
    score: float | None
    key: str
    rule: str = ""
    error: float | None = None
    verify: bool = False
    cell: Cell | None = None
    answer: str = ""
    space: str = ""

    @property
    def response(self) -> dict[str, Any] | None:
        """The cached response body of a hit."""
        return self.stored.body if self.stored is not None else None

    @property
    def learns(self) -> bool:
        return self.cell is not None and bool(self.answer)

    def header(self) -> str:
        """The `x-ragway-cache` response header value."""
        if self.status == "semantic-hit" and self.score is not None:
            parts = [f"semantic-hit;score={self.score:.3f}"]
            if self.rule:
                parts.append(f"rule={self.rule}")
            if self.error is not None:
                parts.append(f"error={self.error:.4f}")
            return ";".join(parts)
        return self.status


# The lookup of a request that is never cached (and of one that was never looked up)
BYPASS = CacheLookup(status="bypass", stored=None, score=None, key="")


def parse_cache_control(headers: Mapping[str, str]) -> CacheControl:
    """Read `Cache-Control` (no-cache, no-store, max-age=0) and `x-ragway-cache` (refresh, no-store, bypass).

    Unknown Cache-Control directives are ignored, as HTTP asks; an unknown x-ragway-cache value is a
    client error, since that header exists only to control this cache.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    control = _from_cache_control(lowered.get("cache-control", ""))
    ragway = lowered.get(CACHE_HEADER, "").strip().lower()
    if not ragway:
        return control
    if ragway not in _RAGWAY_VALUES:
        known = ", ".join(sorted(_RAGWAY_VALUES))
        raise InvalidRequest(f"header {CACHE_HEADER}: unknown value '{ragway}' (use {known})", param=CACHE_HEADER)
    return _strongest(control, _RAGWAY_VALUES[ragway])


def _from_cache_control(value: str) -> CacheControl:
    control = CacheControl.NORMAL
    for directive in value.lower().split(","):
        name = directive.strip().replace(" ", "")
        if name == "no-store":
            control = _strongest(control, CacheControl.NO_STORE)
        elif name in ("no-cache", "max-age=0"):
            control = _strongest(control, CacheControl.REFRESH)
    return control


def _strongest(a: CacheControl, b: CacheControl) -> CacheControl:
    return a if _STRENGTH[a] >= _STRENGTH[b] else b
