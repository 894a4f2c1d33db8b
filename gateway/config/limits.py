"""gateway.yaml's `limits:` section: spend budgets and rate limits for client keys and routes.

    limits:
      url: redis://127.0.0.1:6379/0        # shared by replicas; default: cache.url when it is Redis
      keys:
        RAGWAY_API_KEY:                      # the env var naming a client key (its key id)
          name: team-a
          usd_per_day: 0.50
          requests_per_minute: 60
      routes:
        chat: {usd_per_month: 200, tokens_per_minute: 100000}

Budgets are calendar windows in UTC (the day, the month); rate limits are sliding 60-second
windows. When the shared store cannot be reached, a limit set's rate limits admit
(`rate_on_error: fail_open`) and its budgets refuse (`budget_on_error: fail_closed`) unless
told otherwise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from gateway.config.base import Strict

OnError = Literal["fail_open", "fail_closed"]
LIMIT_SCHEMES = ("memory://", "redis://", "rediss://", "unix://")


class LimitSet(Strict):
    """The limits of one key or one route; any left out do not apply."""

    name: str = ""
    usd_per_day: float | None = Field(None, ge=0)
    usd_per_month: float | None = Field(None, ge=0)
    requests_per_minute: int | None = Field(None, ge=0)
    tokens_per_minute: int | None = Field(None, ge=0)
    rate_on_error: OnError = "fail_open"
    budget_on_error: OnError = "fail_closed"

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.usd_per_day, self.usd_per_month, self.requests_per_minute,
                                       self.tokens_per_minute))


class LimitsConfig(Strict):
    url: str | None = None
    key_prefix: str = Field("ragway:limits", min_length=1)
    keys: dict[str, LimitSet] = {}
    routes: dict[str, LimitSet] = {}
    # the worst case of a request that names no max_tokens (and whose route sets none)
    default_max_tokens: int = Field(4096, ge=1)
    # a Redis slower than this counts as unreachable (each limit set's *_on_error decides)
    socket_timeout_ms: float = Field(1000.0, gt=0, le=10_000)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(LIMIT_SCHEMES):
            raise ValueError(f"limits url must start with one of {', '.join(LIMIT_SCHEMES)}")
        return url

    def store_url(self, cache_url: str) -> str:
        """Where counters live: `url`, else the cache's Redis, else this process."""
        if self.url is not None:
            return self.url
        return cache_url if not cache_url.startswith("memory://") else "memory://"

    @property
    def enabled(self) -> bool:
        return any(not s.empty for s in (*self.keys.values(), *self.routes.values()))
