"""Pick the confidence threshold that keeps local answers at a target accuracy, and what it costs.

The bar is set on a *lower confidence bound* of the kept answers' accuracy (one-sided Wilson
score interval, 95% by default), not on the point estimate: a threshold whose kept answers
are 99.0% right on 2,000 calibration rows is as likely to be 98.6% right on new data as 99.4%,
so the point estimate alone misses the target about half the time.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

TABLE_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
CONFIDENCE_LEVEL = 0.95


class ThresholdPoint(NamedTuple):
    """Answers with confidence >= `threshold` are kept: `coverage` is their share, `accuracy` theirs.

    `lower_bound` is the one-sided lower confidence bound of that accuracy.
    """

    threshold: float
    coverage: float
    accuracy: float
    lower_bound: float


class ThresholdChoice(NamedTuple):
    threshold: float
    coverage: float
    accuracy: float
    reached: bool
    lower_bound: float = 0.0


def wilson_lower(correct: np.ndarray | float, kept: np.ndarray | float, level: float = CONFIDENCE_LEVEL) -> np.ndarray:
    """One-sided Wilson score lower bound of a proportion *correct*/*kept* at confidence *level* (0 when kept=0)."""
    right = np.asarray(correct, dtype=np.float64)
    n = np.asarray(kept, dtype=np.float64)
    z = NormalDist().inv_cdf(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, right / n, 0.0)
        centre = p + z * z / (2 * n)
        spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        bound = (centre - spread) / (1 + z * z / n)
    return np.where(n > 0, np.clip(bound, 0.0, 1.0), 0.0)


def choose_threshold(
    probs: np.ndarray, correct: np.ndarray, target_accuracy: float, level: float = CONFIDENCE_LEVEL
) -> ThresholdChoice:
    """The lowest threshold whose kept answers' accuracy has a lower confidence bound >= *target_accuracy*.

    *probs* is each calibration answer's confidence, *correct* whether it was right; *level* is the
    bound's confidence (0.5 gives the point estimate). When no threshold reaches the target, the
    choice is 1.0 with `reached=False`: everything escalates.
    """
    conf, right = _sorted(probs, correct)
    if conf.size == 0:
        return ThresholdChoice(1.0, 0.0, 0.0, reached=False)
    kept = np.arange(1, conf.size + 1)
    hits = np.cumsum(right)
    bound = wilson_lower(hits, kept, level) if level > 0.5 else hits / kept
    # Only the last of equal confidences is a valid cut: a threshold keeps all ties or none.
    cut = np.append(conf[1:] != conf[:-1], True)
    ok = np.flatnonzero(cut & (bound >= target_accuracy))
    if ok.size == 0:
        return ThresholdChoice(1.0, 0.0, 0.0, reached=False)
    last = int(ok[-1])
    return ThresholdChoice(
        float(conf[last]), (last + 1) / conf.size, float(hits[last] / kept[last]), True, float(bound[last])
    )


def threshold_table(
    probs: np.ndarray, correct: np.ndarray, thresholds: Iterable[float] = TABLE_THRESHOLDS,
    level: float = CONFIDENCE_LEVEL,
) -> list[ThresholdPoint]:
    """Coverage, accuracy and its lower bound of kept answers at each of *thresholds* (0 when nothing is kept)."""
    conf = np.asarray(probs, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    points = []
    for threshold in thresholds:
        kept = conf >= threshold
        count = int(kept.sum())
        accuracy = float(right[kept].mean()) if count else 0.0
        lower = float(wilson_lower(int(right[kept].sum()), count, level))
        points.append(ThresholdPoint(float(threshold), float(kept.mean()) if conf.size else 0.0, accuracy, lower))
    return points


def _sorted(probs: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(probs, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    if conf.shape != right.shape:
        raise ValueError(f"probs and correct differ in shape: {conf.shape} vs {right.shape}")
    order = np.argsort(-conf, kind="stable")
    return conf[order], right[order]
