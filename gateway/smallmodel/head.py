"""The classifier head served in-process: one matrix product and a softmax per query.

sklearn's predict_proba costs tens of microseconds in input checks for a single row; the
head keeps the fitted weights as numpy arrays (with the calibration temperature folded
in) so one prediction costs a few microseconds after the embedding. A head trained with its
examples (`knn` in the manifest) also compares the query with every training row: the nearest
rows' vote is mixed into the probabilities, and the nearest row's similarity is the
out-of-scope score (one more matrix-vector product over the examples).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.smallmodel import artifact
from gateway.smallmodel.artifact import ArtifactError, Manifest
from gateway.smallmodel.embedder import Embedder
from gateway.smallmodel.knn import Examples


@dataclass(frozen=True, slots=True)
class Prediction:
    """`similarity` is the out-of-scope score (cosine to the nearest training example, or to the nearest
    class centroid in heads without examples; None without a novelty score); `novel` says it is below
    the calibrated out-of-scope bar."""

    label: str
    confidence: float
    similarity: float | None = None
    novel: bool = False


class ClassifierHead:
    """Softmax over `vector @ weights + bias`, divided by the calibration temperature."""

    def __init__(
        self,
        weights: np.ndarray,
        bias: np.ndarray,
        labels: Sequence[str],
        temperature: float = 1.0,
        manifest: Manifest | None = None,
    ) -> None:
        if weights.shape != (weights.shape[0], len(labels)) or bias.shape != (len(labels),):
            raise ValueError(f"weights {weights.shape} and bias {bias.shape} do not fit {len(labels)} labels")
        self._weights = np.ascontiguousarray(weights / temperature, dtype=np.float32)
        self._bias = np.ascontiguousarray(bias / temperature, dtype=np.float32)
        self.labels: tuple[str, ...] = tuple(labels)
        self.temperature = temperature
        self.manifest = manifest
        self._centroids: np.ndarray | None = None
        self._examples: Examples | None = None
        self.novelty_threshold: float | None = None
        self.encoder: Embedder | None = None

    def with_novelty(self, centroids: np.ndarray | None, threshold: float | None) -> ClassifierHead:
        """This head with an out-of-scope score: cosine to the nearest of *centroids* (rows in `labels` order)."""
        if centroids is not None and centroids.shape != (len(self.labels), self.dim):
            raise ValueError(f"centroids {centroids.shape} do not fit {len(self.labels)} labels x {self.dim}")
        self._centroids = None if centroids is None else np.ascontiguousarray(centroids.T, dtype=np.float32)
        self.novelty_threshold = threshold
        return self

    def with_examples(self, examples: Examples | None) -> ClassifierHead:
        """This head voting with its training *examples*; their nearest similarity becomes the novelty score."""
        if examples is not None and (examples.vectors.shape[1] != self.dim or examples.n_classes != len(self.labels)):
            raise ValueError(f"examples {examples.vectors.shape} do not fit {len(self.labels)} labels x {self.dim}")
        self._examples = examples
        return self

    @classmethod
    def from_coefficients(
        cls, coef: np.ndarray, intercept: np.ndarray, labels: Sequence[str], temperature: float = 1.0,
        manifest: Manifest | None = None,
    ) -> ClassifierHead:
        """From sklearn's `coef_` (classes x dim, or 1 x dim for two classes) and `intercept_`."""
        if coef.shape[0] == 1 and len(labels) == 2:
            # A binary fit holds one logit z for the second class: softmax over (0, z) is its sigmoid.
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros_like(intercept), intercept])
        return cls(coef.T, intercept, labels, temperature, manifest)

    @classmethod
    def load(cls, path: Path, embedder_id: str, dim: int) -> ClassifierHead:
        """Load an artifact (a version folder, or a route folder through its `latest` pointer).

        Refuses an artifact trained on another embedder than the running one (*embedder_id*, *dim*).
        """
        folder = artifact.resolve(path)
        manifest = artifact.read_manifest(folder)
        if manifest.embedder_id != embedder_id or manifest.dim != dim:
            raise ArtifactError(
                f"{folder}: trained on embedder '{manifest.embedder_id}' ({manifest.dim}-d) but the gateway runs "
                f"'{embedder_id}' ({dim}-d); retrain it with `ragway finetune --route {manifest.route}`"
            )
        weights = artifact.read_weights(folder, manifest)
        if weights.classes != manifest.labels or weights.coef.ndim != 2 or weights.coef.shape[1] != dim:
            raise ArtifactError(f"{folder}: the model file does not match its manifest (labels or dimension)")
        try:
            head = cls.from_coefficients(weights.coef, weights.intercept, weights.classes,
                                         manifest.calibration.temperature, manifest)
        except ValueError as exc:
            raise ArtifactError(f"{folder}: {exc}") from None
        head.with_novelty(artifact.read_centroids(folder, manifest),
                          manifest.novelty.threshold if manifest.novelty else None)
        head.with_examples(artifact.read_examples(folder, manifest))
        if manifest.encoder is not None:
            head.encoder = artifact.read_encoder(folder, manifest)
        return head

    @property
    def dim(self) -> int:
        return int(self._weights.shape[0])

    @property
    def threshold(self) -> float | None:
        """The confidence threshold calibrated by `ragway finetune`, when loaded from an artifact."""
        return self.manifest.calibration.threshold if self.manifest else None

    def predict(self, vector: np.ndarray) -> Prediction:
        """The most likely label of one embedding, with its calibrated probability."""
        probs, similarity = self.scores(np.asarray(vector)[None, :])
        best = int(probs[0].argmax())
        confidence = float(probs[0, best])
        if similarity is None or self.novelty_threshold is None:
            return Prediction(self.labels[best], confidence)
        score = float(similarity[0])
        return Prediction(self.labels[best], confidence, score, score < self.novelty_threshold)

    def scores(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated class probabilities (rows x labels) and the out-of-scope score of each row (None without one)."""
        logits = np.asarray(vectors, dtype=np.float32) @ self._weights + self._bias
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        probs = logits / logits.sum(axis=1, keepdims=True)
        if self._examples is not None:
            votes, nearest = self._examples.vote(vectors)
            return self._examples.mix(probs, votes), nearest
        if self._centroids is not None:
            return probs, (np.asarray(vectors, dtype=np.float32) @ self._centroids).max(axis=1)
        return probs, None

    def similarities(self, vectors: np.ndarray) -> np.ndarray | None:
        """Each row's out-of-scope score, or None when the head has no novelty score."""
        return self.scores(vectors)[1]

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for a batch of embeddings (rows), columns in `labels` order."""
        return self.scores(vectors)[0]
