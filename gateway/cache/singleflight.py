"""Coalescing: concurrent callers with the same key share one call in this process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from gateway.cache.stats import CacheStats

T = TypeVar("T")


class SingleFlight:
    """The first caller for a key starts `fn` as a task; callers arriving while it runs share it.

    Every caller gets the same result object (treat it as read-only) or the same exception. The
    call runs in its own task, so a caller that goes away (client disconnect) neither cancels it
    for the others nor wastes it.
    """

    def __init__(self, stats: CacheStats | None = None) -> None:
        self._flights: dict[str, asyncio.Future[Any]] = {}
        self._stats = stats

    async def do(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(fn())
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._land(key, done))
        elif self._stats is not None:
            self._stats.coalesced += 1
        return await asyncio.shield(flight)

    def _land(self, key: str, flight: asyncio.Future[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        # Mark the exception retrieved: when every caller left, nobody else will.
        if not flight.cancelled():
            flight.exception()

    def __len__(self) -> int:
        return len(self._flights)
