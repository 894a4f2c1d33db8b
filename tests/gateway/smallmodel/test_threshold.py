"""choose_threshold: the lowest confidence bar whose kept answers reach the target accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.smallmodel import choose_threshold, threshold_table


def kept_accuracy(probs: np.ndarray, correct: np.ndarray, threshold: float) -> float:
    kept = probs >= threshold
    return float(correct[kept].mean())


@pytest.mark.parametrize("target", [0.9, 0.95, 0.99])
def test_reaches_the_target_with_the_lowest_threshold(target: float) -> None:
    rng = np.random.default_rng(7)
    probs = rng.uniform(0.2, 1.0, 5_000)
    correct = rng.uniform(size=5_000) < probs  # confident answers are right more often
    choice = choose_threshold(probs, correct, target)
    assert choice.reached
    assert kept_accuracy(probs, correct, choice.threshold) >= target
    assert choice.accuracy == pytest.approx(kept_accuracy(probs, correct, choice.threshold))
    assert choice.coverage == pytest.approx(float((probs >= choice.threshold).mean()))
    lower = probs[probs < choice.threshold]
    assert all(kept_accuracy(probs, correct, t) < target for t in lower)


def test_ties_are_kept_or_dropped_together() -> None:
    probs = np.array([0.9, 0.8, 0.8, 0.7])
    correct = np.array([True, True, False, True])
    choice = choose_threshold(probs, correct, 0.75)
    # 0.8 keeps three answers at 2/3; 0.7 keeps all four at 3/4.
    assert (choice.threshold, choice.coverage, choice.accuracy) == (0.7, 1.0, 0.75)
    strict = choose_threshold(probs, correct, 0.9)
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
    assert [(r.threshold, r.coverage, r.accuracy) for r in rows] == [
        (0.5, 0.75, pytest.approx(2 / 3)),
        (0.9, 0.25, 1.0),
        (0.99, 0.0, 0.0),
    ]
