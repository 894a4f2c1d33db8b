"""Out-of-scope awareness from the same embedding: how far a query is from every class seen in training.

Heads that keep their training vectors score a query by its cosine similarity to the nearest
training row (`knn.Examples.vote`); heads without them, by the similarity to the nearest class
centroid (the normalised mean embedding of a label's training rows, one (dim x classes) product
per query, stored beside the head). On banking77 with held-out intents the nearest row separates
out-of-scope queries better (AUROC 0.895 vs 0.833 on train, docs/eval.md). A query below the
calibrated bar looks like nothing the head was trained on.

The bar is calibrated on the training rows themselves, cross-fitted like the confidence: each
row is scored against centroids (or rows) from the other folds, and the bar is set so that only
`max_in_scope_rejection` of those in-scope rows fall below it. Known out-of-scope examples
(`ragway finetune --oos FILE`) sharpen it: the bar then maximises the share of them caught
minus the share of in-scope rows rejected, still within the same cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_IN_SCOPE_REJECTION = 0.02


@dataclass(frozen=True)
class NoveltyCalibration:
    """The bar and what it was measured to do; `oos_caught` is None without --oos examples."""

    threshold: float
    in_scope_rejected: float
    oos_caught: float | None
    n_oos: int
    max_in_scope_rejection: float


def centroids(x: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """The normalised mean embedding of each class (rows in *classes* order; zeros for an absent class)."""
    column = {label: i for i, label in enumerate(classes)}
    sums = np.zeros((len(classes), x.shape[1]), dtype=np.float64)
    np.add.at(sums, np.array([column[label] for label in y]), x)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def similarity(vectors: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each vector's cosine similarity to its nearest centre (vectors are normalised)."""
    return (np.asarray(vectors, dtype=np.float32) @ centres.T).max(axis=1)


def out_of_fold_similarity(x: np.ndarray, y: np.ndarray, classes: Sequence[str], ids: np.ndarray) -> np.ndarray:
    """Each training row's similarity to centroids built without its fold."""
    scores = np.zeros(len(y), dtype=np.float32)
    for fold in range(int(ids.max()) + 1):
        held = ids == fold
        scores[held] = similarity(x[held], centroids(x[~held], y[~held], classes))
    return scores


def calibrate(
    in_scope: np.ndarray, oos: np.ndarray | None = None, max_in_scope_rejection: float = MAX_IN_SCOPE_REJECTION
) -> NoveltyCalibration:
    """The similarity bar from out-of-fold in-scope scores and, when given, known out-of-scope scores."""
    floor = float(np.quantile(in_scope, max_in_scope_rejection))
    if oos is None or len(oos) == 0:
        return NoveltyCalibration(floor, float((in_scope < floor).mean()), None, 0, max_in_scope_rejection)
    candidates = np.unique(np.concatenate([in_scope[in_scope <= floor], oos[oos <= floor], [floor]]))
    rejected = np.searchsorted(np.sort(in_scope), candidates, side="left") / len(in_scope)
    caught = np.searchsorted(np.sort(oos), candidates, side="left") / len(oos)
    best = int(np.argmax(caught - rejected))
    return NoveltyCalibration(
        float(candidates[best]), float(rejected[best]), float(caught[best]), len(oos), max_in_scope_rejection
    )
