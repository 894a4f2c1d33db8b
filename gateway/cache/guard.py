"""Keep a failing shared store off the request path: fail fast for a while, warn now and then."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.cache.stats import CacheStats

logger = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The shared store failed or is resting after a failure; the request goes on without the cache."""


class ThrottledWarning:
    """Logs a warning at most once per `every_s`, saying how many were held back."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self._logger = logger
        self._every_s = every_s
        self._clock = clock
        self._last: float | None = None
        self._held = 0

    def warn(self, message: str) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self._every_s:
            self._held += 1
            return
        suffix = f" ({self._held} similar warnings held back)" if self._held else ""
        self._logger.warning("%s%s", message, suffix)
        self._last = now
        self._held = 0


class Breaker:
    """After a failure, report the store unavailable for `retry_after_s`, then let calls try again.

    A Redis that is down or slow would otherwise add a socket timeout to every request.
    """

    def __init__(
        self,
        stats: CacheStats,
        warning: ThrottledWarning,
        retry_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._stats = stats
        self._warning = warning
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._open_until = 0.0

    def allow(self) -> bool:
        """True when a call may go to the store; counts a skip otherwise."""
        if self._clock() >= self._open_until:
            return True
        self._stats.store_skipped += 1
        return False

    def failed(self, what: str, exc: BaseException) -> None:
        self._stats.store_errors += 1
        self._stats.available = False
        self._open_until = self._clock() + self._retry_after_s
        self._warning.warn(f"cache store unavailable, serving without it: {what}: {type(exc).__name__}: {exc}")

    def succeeded(self) -> None:
        if not self._stats.available:
            self._stats.available = True
            logger.info("cache store reachable again, caching resumed")
