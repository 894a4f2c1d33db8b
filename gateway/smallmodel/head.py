"""The classifier head served in-process: one matrix product and a softmax per query.

sklearn's predict_proba costs tens of microseconds in input checks for a single row; the
head keeps the fitted weights as numpy arrays (with the calibration temperature folded
in) so one prediction costs a few microseconds after the embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.smallmodel import artifact
from gateway.smallmodel.artifact import ArtifactError, Manifest
from gateway.smallmodel.embedder import Embedder


@dataclass(frozen=True, slots=True)
class Prediction:
    """`similarity` is the query's cosine to the nearest class centroid (None without a novelty score);
    `novel` says it is below the calibrated out-of-scope bar."""

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
        self.novelty_threshold: float | None = None
        self.encoder: Embedder | None = None

    def with_novelty(self, centroids: np.ndarray | None, threshold: float | None) -> ClassifierHead:
        """This head with an out-of-scope score: cosine to the nearest of *centroids* (rows in `labels` order)."""
        if centroids is not None and centroids.shape != (len(self.labels), self.dim):
            raise ValueError(f"centroids {centroids.shape} do not fit {len(self.labels)} labels x {self.dim}")
        self._centroids = None if centroids is None else np.ascontiguousarray(centroids.T, dtype=np.float32)
        self.novelty_threshold = threshold
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
        centres = artifact.read_centroids(folder, manifest)
        head.with_novelty(centres, manifest.novelty.threshold if manifest.novelty else None)
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
        logits = vector @ self._weights + self._bias
        best = int(logits.argmax())
        confidence = 1.0 / float(np.exp(logits - logits[best]).sum())
        if self._centroids is None or self.novelty_threshold is None:
            return Prediction(self.labels[best], confidence)
        similarity = float((vector @ self._centroids).max())
        return Prediction(self.labels[best], confidence, similarity, similarity < self.novelty_threshold)

    def similarities(self, vectors: np.ndarray) -> np.ndarray | None:
        """Each row's cosine to the nearest class centroid, or None when the head has no novelty score."""
        if self._centroids is None:
            return None
        return (np.asarray(vectors, dtype=np.float32) @ self._centroids).max(axis=1)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for a batch of embeddings (rows), columns in `labels` order."""
        logits = np.asarray(vectors, dtype=np.float32) @ self._weights + self._bias
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        return logits / logits.sum(axis=1, keepdims=True)
