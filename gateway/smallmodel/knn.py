"""The training examples a head keeps: a vote of the nearest ones, and how near the nearest one is.

Each of the k nearest examples votes for its label with weight exp(similarity / scale), so a
near-duplicate outweighs a loose match; the votes, normalised into a distribution over the
labels, are mixed into the head's probabilities with weight `weight`. The nearest example's
similarity is the out-of-scope score: a query far from every training row looks like nothing
seen in training. The same functions score out-of-fold rows in training and queries when serving.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 1024


@dataclass(frozen=True)
class KnnSettings:
    """*k* neighbours vote; *scale* sharpens their weights; *weight* is the votes' share of the mix (0: none)."""

    k: int = 10
    scale: float = 0.02
    weight: float = 0.4


def knn_votes(similarities: np.ndarray, labels: np.ndarray, n_classes: int, scale: float) -> np.ndarray:
    """Rows x classes vote shares from each row's neighbours (*similarities*, *labels*: rows x k, label columns)."""
    sims = np.asarray(similarities, dtype=np.float64)
    weights = np.exp((sims - sims.max(axis=1, keepdims=True)) / scale)
    votes = np.zeros((sims.shape[0], n_classes), dtype=np.float64)
    rows = np.repeat(np.arange(sims.shape[0]), sims.shape[1])
    np.add.at(votes, (rows, np.asarray(labels, dtype=np.int64).ravel()), weights.ravel())
    return votes / votes.sum(axis=1, keepdims=True)


def nearest(queries: np.ndarray, examples: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k most similar *examples* (unit-length rows): (similarities, row numbers), closest first."""
    sims = np.asarray(queries, dtype=np.float32) @ examples.T
    k = min(k, examples.shape[0])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    top_sims = np.take_along_axis(sims, top, axis=1)
    order = np.argsort(-top_sims, axis=1, kind="stable")
    return np.take_along_axis(top_sims, order, axis=1), np.take_along_axis(top, order, axis=1)


class Examples:
    """Training vectors (rows x dim, unit length) and their label columns, with the vote's settings."""

    def __init__(self, vectors: np.ndarray, labels: np.ndarray, n_classes: int, settings: KnnSettings) -> None:
        if vectors.ndim != 2 or labels.shape != (vectors.shape[0],) or vectors.shape[0] == 0:
            raise ValueError(f"examples {vectors.shape} and labels {labels.shape} do not fit")
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(f"example labels must be columns 0..{n_classes - 1}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.n_classes = n_classes
        self.settings = settings

    def vote(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vote shares rows x classes, each query's similarity to its nearest example)."""
        k = self.settings.k
        votes, nearest_sims = [], []
        # In chunks: thousands of queries against every example at once would take gigabytes.
        for start in range(0, max(len(queries), 1), CHUNK):
            sims, rows = nearest(queries[start : start + CHUNK], self.vectors, k)
            votes.append(knn_votes(sims, self.labels[rows], self.n_classes, self.settings.scale))
            nearest_sims.append(sims[:, 0])
        return np.vstack(votes), np.concatenate(nearest_sims)

    def mix(self, probs: np.ndarray, votes: np.ndarray) -> np.ndarray:
        """The head's probabilities with the neighbours' votes mixed in at the configured weight."""
        weight = self.settings.weight
        return probs if weight == 0 else (1 - weight) * probs + weight * votes


def out_of_fold_votes(
    x: np.ndarray, labels: np.ndarray, ids: np.ndarray, n_classes: int, settings: KnnSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's vote shares and nearest similarity among the rows outside its fold (*ids*), as a query sees them."""
    votes = np.zeros((len(x), n_classes), dtype=np.float64)
    nearest_sims = np.zeros(len(x), dtype=np.float32)
    for fold in range(int(ids.max()) + 1):
        held = ids == fold
        if held.all():
            continue
        votes[held], nearest_sims[held] = Examples(x[~held], labels[~held], n_classes, settings).vote(x[held])
    return votes, nearest_sims
