"""Where the counters live: this process (`MemoryCounters`) or Redis (`RedisCounters`, Lua scripts).

Both do the same thing atomically: `reserve` checks every counter against its limit and, only if
all admit, adds the request's amounts to each; `settle` moves a reservation to the real amounts.
A reservation is kept per counter under the request's id, so settling is exact and idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.limits.checks import Check


@dataclass(frozen=True, slots=True)
class Usage:
    """A counter after the reservation (or, when refused, before it) and seconds until it frees up."""

    used: float
    reset_s: float


@dataclass(frozen=True, slots=True)
class Outcome:
    admitted: bool
    usage: tuple[Usage, ...]  # one per check; when refused, up to and including the refusing one
    refused_at: int = -1


class Counters(Protocol):
    async def reserve(self, checks: Sequence[Check], request_id: str) -> Outcome: ...

    async def settle(self, checks: Sequence[Check], request_id: str, amounts: Sequence[float]) -> None: ...

    async def aclose(self) -> None: ...


class MemoryCounters:
    """Counters of this process: exact for one replica, and the default."""

    def __init__(self, clock=time.time) -> None:
        self._clock = clock
        # key -> request id -> [ts, amount], in arrival order, so expired entries are always at the front
        self._windows: dict[str, dict[str, list[float]]] = {}
        self._totals: dict[str, float] = {}  # a window's amounts summed, and each budget's spend

    async def reserve(self, checks: Sequence[Check], request_id: str) -> Outcome:
        now = self._clock()
        usage = []
        for i, check in enumerate(checks):
            current = self._current(check, now)
            usage.append(current)
            if current.used + check.amount > check.limit:
                return Outcome(False, tuple(usage), i)
        for check in checks:
            self._totals[check.key] = self._totals.get(check.key, 0.0) + check.amount
            if check.kind != "sum":
                self._windows.setdefault(check.key, {})[request_id] = [now, check.amount]
        return Outcome(True, tuple(Usage(u.used + c.amount, u.reset_s) for u, c in zip(usage, checks, strict=True)))

    async def settle(self, checks: Sequence[Check], request_id: str, amounts: Sequence[float]) -> None:
        for check, amount in zip(checks, amounts, strict=True):
            entry = self._windows.get(check.key, {}).get(request_id)
            if check.kind == "sum" or entry is not None:
                self._totals[check.key] = self._totals.get(check.key, 0.0) + amount - check.amount
            if entry is not None:
                entry[1] = amount

    async def aclose(self) -> None:
        return None

    def _current(self, check: Check, now: float) -> Usage:
        if check.kind == "sum":
            return Usage(self._totals.get(check.key, 0.0), check.span)
        window = self._windows.setdefault(check.key, {})
        while window:
            rid, (ts, amount) = next(iter(window.items()))
            if ts > now - check.span:
                break
            del window[rid]
            self._totals[check.key] -= amount
        oldest = next(iter(window.values()))[0] if window else now
        used = len(window) if check.kind == "count" else max(0.0, self._totals.get(check.key, 0.0))
        return Usage(float(used), oldest + check.span - now)
