"""Target health: the error rate of each target over its last WINDOW outcomes, per route."""

from __future__ import annotations

import random

from gateway.pipeline.target_health import WINDOW, TargetHealth


def test_rates_are_those_of_the_last_window_of_outcomes_per_route_and_target() -> None:
    rng = random.Random(7)
    health = TargetHealth()
    sent: dict[tuple[str, str], list[bool]] = {}
    for _ in range(600):
        route, target = rng.choice(["a", "b"]), rng.choice(["large", "small", "backup"])
        ok = rng.random() < 0.7
        health.note(route, target, ok)
        sent.setdefault((route, target), []).append(ok)
        for name in ("a", "b"):
            expected = {t: 1 - sum(outcomes[-WINDOW:]) / len(outcomes[-WINDOW:])
                        for (r, t), outcomes in sent.items() if r == name}
            assert dict(health.stats(name).error_rates) == expected


def test_a_route_with_no_outcomes_has_no_rates() -> None:
    health = TargetHealth()
    health.note("a", "large", False)
    assert health.stats("b").error_rates == {}
    assert health.stats("a").error_rate("large") == 1.0
    assert health.stats("a").error_rate("small") == 0.0
