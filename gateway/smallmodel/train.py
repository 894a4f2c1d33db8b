"""Train a classifier head on the gateway's own embeddings, calibrated on a held-out split."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from gateway.smallmodel import artifact
from gateway.smallmodel.artifact import Calibration, ThresholdRow
from gateway.smallmodel.embedder import Embedder
from gateway.smallmodel.head import ClassifierHead
from gateway.smallmodel.threshold import choose_threshold, threshold_table

Progress = Callable[[str, int, int], None]
"""Called as (stage, done, total); stages are "embedding", "fitting", "calibrating"."""

EMBED_CHUNK = 256
MIN_ROWS = 10


@dataclass(frozen=True)
class TrainedHead:
    """A fitted head with what it was trained on and its calibration result."""

    head: ClassifierHead
    estimator: LogisticRegression
    calibration: Calibration
    embedder_id: str
    dim: int
    data_checksum: str
    n_train: int
    n_calibration: int

    def save(self, artifacts_dir: Path, route: str, data_source: str = "") -> Path:
        """Write a new version under `artifacts_dir/route/` and point `latest` at it; returns its folder.

        *data_source* says where the training rows came from, for the manifest.
        """
        return artifact.write(
            artifacts_dir / route,
            self.estimator,
            {
                "route": route,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "embedder_id": self.embedder_id,
                "dim": self.dim,
                "labels": list(self.head.labels),
                "data_checksum": self.data_checksum,
                "data_source": data_source,
                "n_train": self.n_train,
                "n_calibration": self.n_calibration,
                "calibration": self.calibration,
            },
        )


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    embedder: Embedder,
    *,
    calibration_fraction: float = 0.2,
    target_accuracy: float = 0.99,
    seed: int = 0,
    regularization: float = 10.0,
    progress: Progress | None = None,
) -> TrainedHead:
    """Embed *texts*, fit a logistic-regression head on part, calibrate it on the held-out rest.

    The calibration split sets the softmax temperature and the confidence threshold at which
    answers kept local reach *target_accuracy*. *regularization* is sklearn's C.
    """
    _check_inputs(texts, labels, calibration_fraction)
    report = progress or _silent
    vectors = _embed(texts, embedder, report)
    y = np.asarray(labels, dtype=object)
    fit_x, cal_x, fit_y, cal_y = _split(vectors, y, calibration_fraction, seed)
    report("fitting", 0, 1)
    estimator = LogisticRegression(C=regularization, max_iter=2000, random_state=seed)
    estimator.fit(fit_x, fit_y)
    report("fitting", 1, 1)
    report("calibrating", 0, 1)
    head, calibration = _calibrate(estimator, cal_x, cal_y, target_accuracy)
    report("calibrating", 1, 1)
    return TrainedHead(
        head=head,
        estimator=estimator,
        calibration=calibration,
        embedder_id=embedder.model_id,
        dim=embedder.dim,
        data_checksum=data_checksum(texts, labels),
        n_train=len(fit_y),
        n_calibration=len(cal_y),
    )


def data_checksum(texts: Sequence[str], labels: Sequence[str]) -> str:
    """sha256 over the (text, label) pairs: the same data in another file format checks the same."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{text}\x1f{label}\x1e".encode())
    return digest.hexdigest()


def _check_inputs(texts: Sequence[str], labels: Sequence[str], calibration_fraction: float) -> None:
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if len(texts) < MIN_ROWS:
        raise ValueError(f"need at least {MIN_ROWS} labelled rows, got {len(texts)}")
    if len(set(labels)) < 2:
        raise ValueError("need at least two different labels")
    if not 0 < calibration_fraction < 1:
        raise ValueError(f"calibration fraction must be between 0 and 1, got {calibration_fraction}")


def _silent(stage: str, done: int, total: int) -> None:
    return None


def _embed(texts: Sequence[str], embedder: Embedder, report: Progress) -> np.ndarray:
    chunks = []
    report("embedding", 0, len(texts))
    for start in range(0, len(texts), EMBED_CHUNK):
        chunks.append(embedder.encode(list(texts[start : start + EMBED_CHUNK])))
        report("embedding", min(start + EMBED_CHUNK, len(texts)), len(texts))
    return np.vstack(chunks).astype(np.float32, copy=False)


def _split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> list[Any]:
    counts = Counter(y.tolist())
    held_out = round(len(y) * fraction)
    # Stratify when every label can appear on both sides; otherwise a plain shuffle.
    stratify = y if min(counts.values()) >= 2 and len(counts) <= held_out <= len(y) - len(counts) else None
    return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=stratify)


def _calibrate(
    estimator: LogisticRegression, x: np.ndarray, y: np.ndarray, target_accuracy: float
) -> tuple[ClassifierHead, Calibration]:
    labels = [str(label) for label in estimator.classes_]
    raw = ClassifierHead.from_coefficients(estimator.coef_, estimator.intercept_, labels)
    temperature = _fit_temperature(raw, x, y)
    head = ClassifierHead.from_coefficients(estimator.coef_, estimator.intercept_, labels, temperature)
    probs = head.probabilities(x)
    predicted = np.asarray(head.labels, dtype=object)[probs.argmax(axis=1)]
    confidence = probs.max(axis=1)
    correct = predicted == y
    choice = choose_threshold(confidence, correct, target_accuracy)
    table = [ThresholdRow(**point._asdict()) for point in threshold_table(confidence, correct)]
    calibration = Calibration(
        temperature=temperature,
        accuracy=float(correct.mean()),
        target_accuracy=target_accuracy,
        threshold=choice.threshold,
        coverage=choice.coverage,
        threshold_accuracy=choice.accuracy,
        reached=choice.reached,
        table=table,
    )
    return head, calibration


def _fit_temperature(raw: ClassifierHead, x: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature minimising log loss on the calibration split (one scalar, so no overfit)."""
    index = {label: i for i, label in enumerate(raw.labels)}
    known = np.array([label in index for label in y])
    if not known.any():
        return 1.0
    logits = np.log(np.clip(raw.probabilities(x[known]), 1e-12, None)).astype(np.float64)
    rows = np.arange(int(known.sum()))
    cols = np.array([index[label] for label in y[known]])

    def loss(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        scaled -= scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        return float((log_norm - scaled[rows, cols]).mean())

    result = minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(result.x))
