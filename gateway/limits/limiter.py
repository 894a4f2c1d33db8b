"""Check-and-reserve before the call, settle after it; refusals as 429s with OpenAI's headers."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

from gateway.config.limits import LimitsConfig
from gateway.errors import GatewayError, QuotaExceeded, RateLimited, ServiceUnavailable
from gateway.limits.checks import Ask, Check, checks_for
from gateway.limits.counters import Counters, MemoryCounters, Outcome
from gateway.limits.redis_counters import RedisCounters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grant:
    """A reservation: what was reserved against which counters, and the headers that describe them."""

    request_id: str
    checks: tuple[Check, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


NO_GRANT = Grant("")


class LimitMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter("ragway_limit_refused", "Requests refused by a budget or rate limit.",
                               ("scope", "limit"), registry=registry)
        self.store_errors = Counter(
            "ragway_limit_store_errors", "Limit checks the counter store could not answer, by what was done.",
            ("decision",), registry=registry)


class Limiter:
    """The gateway's budgets and rate limits over one counter store."""

    def __init__(self, config: LimitsConfig, counters: Counters, registry: CollectorRegistry | None = None,
                 clock=time.time) -> None:
        self.config = config
        self.counters = counters
        self.metrics = LimitMetrics(registry or CollectorRegistry())
        self._clock = clock
        self._settling: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> bool:
        """False when no key or route has a limit: the request path then skips pricing its worst case."""
        return self.config.enabled

    async def reserve(self, ask: Ask) -> Grant:
        """Reserve *ask*'s worst case on every limit that applies, or raise the refusal (nothing reserved)."""
        checks = tuple(checks_for(self.config, ask, self._clock()))
        if not checks:
            return NO_GRANT
        try:
            outcome = await self.counters.reserve(checks, ask.request_id)
        except Exception as exc:  # the store's own errors: connection, timeout, script
            return self._unreachable(ask, checks, exc)
        if not outcome.admitted:
            raise self._refusal(checks, outcome)
        return Grant(ask.request_id, checks, _headers(checks, outcome))

    def settle(self, grant: Grant, *, tokens: int, usd: float) -> None:
        """Move *grant*'s reservation to the real tokens and cost (0 and 0 refund a failed call), in the background."""
        if not grant.checks:
            return
        amounts = [usd if c.kind == "sum" else tokens if c.kind == "tokens" else c.amount for c in grant.checks]
        task = asyncio.create_task(self._settle(grant, amounts))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def aclose(self) -> None:
        """Finish the settlements under way, then close the store."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)
        await self.counters.aclose()

    async def _settle(self, grant: Grant, amounts: Sequence[float]) -> None:
        try:
            await self.counters.settle(grant.checks, grant.request_id, amounts)
        except Exception:
            # the reservation stays at the worst case: the budget errs on the side of the bill
            log.warning("limits: could not settle request %s; its worst case stays reserved", grant.request_id,
                        exc_info=True)
            self.metrics.store_errors.labels("settle_failed").inc()

    def _unreachable(self, ask: Ask, checks: Sequence[Check], exc: Exception) -> Grant:
        closed = [c for c in checks if not c.fail_open]
        if not closed:
            self.metrics.store_errors.labels("fail_open").inc()
            log.warning("limits: counter store unreachable (%s); admitting request %s (fail_open)",
                        type(exc).__name__, ask.request_id)
            return NO_GRANT
        self.metrics.store_errors.labels("fail_closed").inc()
        log.warning("limits: counter store unreachable (%s); refusing request %s (fail_closed)",
                    type(exc).__name__, ask.request_id)
        first = closed[0]
        raise ServiceUnavailable(
            f"the {first.unit} limit of {first.scope} cannot be checked now (its counter store is unreachable) "
            "and is set to fail_closed; try again shortly", code="limits_unavailable", headers={"retry-after": "1"})

    def _refusal(self, checks: Sequence[Check], outcome: Outcome) -> GatewayError:
        check = checks[outcome.refused_at]
        usage = outcome.usage[outcome.refused_at]
        self.metrics.refused.labels(check.scope.split(" ", 1)[0], check.unit).inc()
        headers = _headers(checks[: outcome.refused_at + 1], outcome)
        headers["retry-after"] = str(max(1, math.ceil(usage.reset_s)))
        if check.budget:
            message = (f"{check.scope} has spent ${usage.used:.4f} of its ${check.limit:g} {check.unit} budget; "
                       f"this request could cost up to ${check.amount:.4f}. The budget resets in "
                       f"{_duration(usage.reset_s)}.")
            return QuotaExceeded(message, headers=headers)
        unit = "requests" if check.kind == "count" else "tokens"
        message = (f"{check.scope} is limited to {check.limit:g} {unit} per minute and has used {usage.used:g}"
                   + (f"; this request needs up to {check.amount:g}" if check.kind == "tokens" else "")
                   + f". Try again in {_duration(usage.reset_s)}.")
        return RateLimited(message, headers=headers)


def _headers(checks: Sequence[Check], outcome: Outcome) -> dict[str, str]:
    """x-ratelimit-limit/remaining/reset-<unit> for the tightest limit of each unit."""
    tightest: dict[str, tuple[float, float, float]] = {}
    for check, usage in zip(checks, outcome.usage, strict=False):
        remaining = max(0.0, check.limit - usage.used)
        if check.unit not in tightest or remaining < tightest[check.unit][1]:
            tightest[check.unit] = (check.limit, remaining, usage.reset_s)
    headers = {}
    for unit, (limit, remaining, reset) in tightest.items():
        money = unit.startswith("usd")
        headers[f"x-ratelimit-limit-{unit}"] = f"{limit:g}" if not money else f"{limit:.4f}"
        headers[f"x-ratelimit-remaining-{unit}"] = f"{math.floor(remaining):d}" if not money else f"{remaining:.4f}"
        headers[f"x-ratelimit-reset-{unit}"] = f"{max(0.0, reset):.1f}s"
    return headers


def _duration(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60}m" if hours else f"{rest // 60}m{rest % 60}s" if rest >= 60 else f"{rest}s"


def build_limiter(config: LimitsConfig, cache_url: str, registry: CollectorRegistry | None = None) -> Limiter:
    """The limiter for gateway.yaml's `limits:` section; counters in Redis when its url (or the cache's) is Redis."""
    url = config.store_url(cache_url)
    if url.startswith("memory://") or not config.enabled:
        return Limiter(config, MemoryCounters(), registry)
    return Limiter(config, RedisCounters(url, socket_timeout_s=config.socket_timeout_ms / 1000), registry)
