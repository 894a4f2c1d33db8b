"""Recent outcomes per target, the `stats` a fallback policy reads to skip a failing target."""

from __future__ import annotations

from collections import deque

from gateway.routing import RouteStats

WINDOW = 50


class _Window:
    """The last WINDOW outcomes of one target, with its failures among them counted as they come and go."""

    __slots__ = ("failures", "outcomes")

    def __init__(self) -> None:
        self.outcomes: deque[bool] = deque(maxlen=WINDOW)
        self.failures = 0

    def add(self, ok: bool) -> None:
        if len(self.outcomes) == WINDOW and not self.outcomes[0]:
            self.failures -= 1  # the oldest outcome, a failure, leaves the window
        self.outcomes.append(ok)
        self.failures += not ok

    def error_rate(self) -> float:
        # the rate as `1 - successes / n`, written so for the same float as before the count was kept
        total = len(self.outcomes)
        return 1 - (total - self.failures) / total


class TargetHealth:
    """The last WINDOW outcomes of each (route, target); every request reads its route's rates, so they are
    kept up to date as outcomes arrive rather than summed over the window each time."""

    def __init__(self) -> None:
        self._routes: dict[str, dict[str, _Window]] = {}

    def note(self, route: str, target: str, ok: bool) -> None:
        targets = self._routes.setdefault(route, {})
        window = targets.get(target)
        if window is None:
            window = targets[target] = _Window()
        window.add(ok)

    def stats(self, route: str) -> RouteStats:
        targets = self._routes.get(route, {})
        return RouteStats(error_rates={target: window.error_rate() for target, window in targets.items()})
