"""Recent outcomes per target, the `stats` a fallback policy reads to skip a failing target."""

from __future__ import annotations

from collections import deque

from gateway.routing import RouteStats

WINDOW = 50


class TargetHealth:
    """The last WINDOW outcomes of each (route, target)."""

    def __init__(self) -> None:
        self._outcomes: dict[tuple[str, str], deque[bool]] = {}

    def note(self, route: str, target: str, ok: bool) -> None:
        self._outcomes.setdefault((route, target), deque(maxlen=WINDOW)).append(ok)

    def stats(self, route: str) -> RouteStats:
        rates = {
            target: 1 - sum(outcomes) / len(outcomes)
            for (name, target), outcomes in self._outcomes.items()
            if name == route and outcomes
        }
        return RouteStats(error_rates=rates)
