"""choose_threshold: the lowest confidence bar whose kept answers' lower confidence bound reaches the target."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.smallmodel import choose_threshold, threshold_table
from gateway.smallmodel.threshold import wilson_lower

POINT = 0.5  # a "bound" at 50% confidence is the point estimate


def kept_accuracy(probs: np.ndarray, correct: np.ndarray, threshold: float) -> float:
    kept = probs >= threshold
    return float(correct[kept].mean()) if kept.any() else 1.0  # nothing kept: nothing kept is wrong


@pytest.mark.parametrize("target", [0.9, 0.95, 0.99])
def test_reaches_the_target_with_the_lowest_threshold(target: float) -> None:
    rng = np.random.default_rng(7)
    probs = rng.uniform(0.2, 1.0, 5_000)
    correct = rng.uniform(size=5_000) < probs  # confident answers are right more often
    choice = choose_threshold(probs, correct, target, POINT)
    assert choice.reached
    assert kept_accuracy(probs, correct, choice.threshold) >= target
    assert choice.accuracy == pytest.approx(kept_accuracy(probs, correct, choice.threshold))
    assert choice.coverage == pytest.approx(float((probs >= choice.threshold).mean()))
    lower = probs[probs < choice.threshold]
    assert all(kept_accuracy(probs, correct, t) < target for t in lower)


def test_ties_are_kept_or_dropped_together() -> None:
    probs = np.array([0.9, 0.8, 0.8, 0.7])
    correct = np.array([True, True, False, True])
    choice = choose_threshold(probs, correct, 0.75, POINT)
    # 0.8 keeps three answers at 2/3; 0.7 keeps all four at 3/4.
    assert (choice.threshold, choice.coverage, choice.accuracy) == (0.7, 1.0, 0.75)
    strict = choose_threshold(probs, correct, 0.9, POINT)
    assert (strict.threshold, strict.coverage) == (0.9, 0.25)


def test_unreachable_target_escalates_everything() -> None:
    choice = choose_threshold(np.array([0.9, 0.6]), np.array([False, True]), 0.99)
    assert not choice.reached
    assert (choice.threshold, choice.coverage) == (1.0, 0.0)


def test_empty_and_mismatched_inputs() -> None:
    assert not choose_threshold(np.array([]), np.array([], dtype=bool), 0.9).reached
    with pytest.raises(ValueError, match="shape"):
        choose_threshold(np.array([0.5]), np.array([True, False]), 0.9)


def test_table_reports_coverage_and_accuracy_per_threshold() -> None:
    probs = np.array([0.95, 0.85, 0.55, 0.4])
    correct = np.array([True, False, True, False])
    rows = threshold_table(probs, correct, [0.5, 0.9, 0.99])
    assert rows[1].lower_bound == pytest.approx(float(wilson_lower(1, 1)))
    assert [(r.threshold, r.coverage, r.accuracy) for r in rows] == [
        (0.5, 0.75, pytest.approx(2 / 3)),
        (0.9, 0.25, 1.0),
        (0.99, 0.0, 0.0),
    ]


def test_wilson_lower_bound_matches_the_closed_form() -> None:
    # 95 of 100 right, one-sided 95% (z = 1.6449): the Wilson score bound is 0.9008.
    assert float(wilson_lower(95, 100)) == pytest.approx(0.90084, abs=1e-4)
    assert float(wilson_lower(0, 0)) == 0.0
    assert float(wilson_lower(50, 50)) < 1.0


def test_the_bound_keeps_out_of_sample_accuracy_at_the_target() -> None:
    """Choose on one sample, check on a fresh one from the same process: the bound holds, the point often fails."""
    rng = np.random.default_rng(3)
    misses = {"bound": 0, "point": 0}
    for _ in range(200):
        probs = rng.uniform(0.5, 1.0, 2_000)
        correct = rng.uniform(size=2_000) < probs ** 0.3
        fresh = rng.uniform(0.5, 1.0, 20_000)
        fresh_correct = rng.uniform(size=20_000) < fresh ** 0.3
        for name, level in (("bound", 0.95), ("point", POINT)):
            choice = choose_threshold(probs, correct, 0.97, level)
            misses[name] += kept_accuracy(fresh, fresh_correct, choice.threshold) < 0.97
    assert misses["bound"] <= 200 * 0.05 + 5
    assert misses["point"] > 200 * 0.3


def test_the_bound_asks_for_a_higher_threshold_than_the_point() -> None:
    rng = np.random.default_rng(7)
    probs = rng.uniform(0.2, 1.0, 2_000)
    correct = rng.uniform(size=2_000) < probs
    bound, point = choose_threshold(probs, correct, 0.95), choose_threshold(probs, correct, 0.95, POINT)
    assert bound.reached and bound.lower_bound >= 0.95
    assert bound.threshold > point.threshold and bound.coverage < point.coverage
