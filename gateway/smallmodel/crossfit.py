"""Cross-fitting: every row gets a prediction from a head that never saw it, and no row is lost.

The rows are split into k stratified folds; a head fitted on k-1 folds scores the k-th. The
out-of-fold logits set the softmax temperature and the confidence threshold, then the served
head is fitted on all rows. It saw (k-1)/k of the data the fold heads saw more of, so it is a
little better than the fold heads the threshold was measured on: the error leans to caution.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold

Fit = Callable[[np.ndarray, np.ndarray], LogisticRegression]
Progress = Callable[[str, int, int], None]


def fold_ids(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each row's fold (0..folds-1): stratified when every label has at least *folds* rows."""
    ids = np.zeros(len(labels), dtype=np.int64)
    stratified = min(Counter(labels.tolist()).values()) >= folds
    splitter = (StratifiedKFold if stratified else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    for number, (_, held) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        ids[held] = number
    return ids


def out_of_fold_logits(
    x: np.ndarray, y: np.ndarray, classes: Sequence[str], fit: Fit, ids: np.ndarray, progress: Progress
) -> np.ndarray:
    """Logits (rows x classes, columns in *classes* order) each from the head that did not see the row.

    A class absent from a fold's training rows gets a logit of -inf there: that head cannot say it.
    """
    logits = np.full((len(y), len(classes)), -np.inf, dtype=np.float64)
    column = {label: i for i, label in enumerate(classes)}
    folds = int(ids.max()) + 1
    for fold in range(folds):
        progress("cross-fitting", fold, folds)
        train_rows, held = ids != fold, ids == fold
        if len(set(y[train_rows].tolist())) < 2:
            continue
        head = fit(x[train_rows], y[train_rows])
        scores = head.decision_function(x[held])
        fitted = np.asarray([column[str(label)] for label in head.classes_], dtype=np.int64)
        if scores.ndim == 1:  # a binary head: one logit z for the second class
            scores = np.stack([np.zeros_like(scores), scores], axis=1)
        logits[np.ix_(np.flatnonzero(held), fitted)] = scores
    progress("cross-fitting", folds, folds)
    return logits


def fit_temperature(logits: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> float:
    """The softmax temperature minimising log loss of *logits* against *y* (one scalar, so no overfit)."""
    column = {label: i for i, label in enumerate(classes)}
    rows = np.array([label in column for label in y]) & np.isfinite(logits).any(axis=1)
    if not rows.any():
        return 1.0
    cols = np.array([column[label] for label in y[rows]])
    finite = np.where(np.isfinite(logits[rows]), logits[rows], -1e9)

    def loss(log_t: float) -> float:
        scaled = finite / np.exp(log_t)
        scaled -= scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        return float((log_norm - scaled[np.arange(len(cols)), cols]).mean())

    return float(np.exp(minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded").x))


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    scaled = np.where(np.isfinite(logits), logits / temperature, -np.inf)
    scaled -= scaled.max(axis=1, keepdims=True)
    np.exp(scaled, out=scaled)
    return scaled / scaled.sum(axis=1, keepdims=True)
