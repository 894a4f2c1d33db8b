"""Pick the confidence threshold that keeps local answers at a target accuracy, and what it costs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

TABLE_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


class ThresholdPoint(NamedTuple):
    """Answers with confidence >= `threshold` are kept: `coverage` is their share, `accuracy` theirs."""

    threshold: float
    coverage: float
    accuracy: float


class ThresholdChoice(NamedTuple):
    threshold: float
    coverage: float
    accuracy: float
    reached: bool


def choose_threshold(probs: np.ndarray, correct: np.ndarray, target_accuracy: float) -> ThresholdChoice:
    """The lowest threshold whose kept answers reach *target_accuracy*.

    *probs* is each calibration answer's confidence, *correct* whether it was right. When no
    threshold reaches the target, the choice is 1.0 with `reached=False`: everything escalates.
    """
    conf, right = _sorted(probs, correct)
    if conf.size == 0:
        return ThresholdChoice(1.0, 0.0, 0.0, reached=False)
    kept_accuracy = np.cumsum(right) / np.arange(1, conf.size + 1)
    # Only the last of equal confidences is a valid cut: a threshold keeps all ties or none.
    cut = np.append(conf[1:] != conf[:-1], True)
    ok = np.flatnonzero(cut & (kept_accuracy >= target_accuracy))
    if ok.size == 0:
        return ThresholdChoice(1.0, 0.0, 0.0, reached=False)
    last = int(ok[-1])
    return ThresholdChoice(float(conf[last]), (last + 1) / conf.size, float(kept_accuracy[last]), reached=True)


def threshold_table(
    probs: np.ndarray, correct: np.ndarray, thresholds: Iterable[float] = TABLE_THRESHOLDS
) -> list[ThresholdPoint]:
    """Coverage and accuracy of kept answers at each of *thresholds* (accuracy 0 when nothing is kept)."""
    conf = np.asarray(probs, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    points = []
    for threshold in thresholds:
        kept = conf >= threshold
        accuracy = float(right[kept].mean()) if kept.any() else 0.0
        points.append(ThresholdPoint(float(threshold), float(kept.mean()) if conf.size else 0.0, accuracy))
    return points


def _sorted(probs: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(probs, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    if conf.shape != right.shape:
        raise ValueError(f"probs and correct differ in shape: {conf.shape} vs {right.shape}")
    order = np.argsort(-conf, kind="stable")
    return conf[order], right[order]
