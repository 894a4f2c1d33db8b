"""Train a classifier head on the gateway's own embeddings, calibrated out of sample by cross-fitting."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from gateway.smallmodel import artifact, crossfit, knn, novelty
from gateway.smallmodel.artifact import Calibration, NoveltyInfo, ThresholdRow
from gateway.smallmodel.embedder import Embedder
from gateway.smallmodel.head import ClassifierHead
from gateway.smallmodel.knn import Examples, KnnSettings
from gateway.smallmodel.threshold import CONFIDENCE_LEVEL, choose_threshold, threshold_table

Progress = Callable[[str, int, int], None]
"""Called as (stage, done, total); stages are "embedding", "cross-fitting", "fitting", "calibrating"."""

EMBED_CHUNK = 256
MIN_ROWS = 10
# Above this many rows the head does not keep its examples (float32 rows in memory, one product per query).
MAX_EXAMPLES = 200_000


@dataclass(frozen=True)
class TrainOptions:
    """*folds* for cross-fitting; *level* is the confidence of the accuracy's lower bound; C is sklearn's.

    C=30 and the neighbours' vote (k=10, scale 0.02, weight 0.4) were chosen by 5-fold cross-validation
    on banking77's train split alone (`python -m bench.bench_heads`, docs/eval.md): out-of-fold accuracy
    92.0% for the logistic head alone, 93.0% with the vote mixed in; standardised features, a linear
    SVM, an MLP and a logistic + MLP ensemble all scored below the logistic head. *knn* None serves
    the head alone (and the centroid out-of-scope score).
    """

    target_accuracy: float = 0.99
    folds: int = 5
    level: float = CONFIDENCE_LEVEL
    seed: int = 0
    regularization: float = 30.0
    max_in_scope_rejection: float = novelty.MAX_IN_SCOPE_REJECTION
    knn: KnnSettings | None = field(default_factory=KnnSettings)


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
    centroids: np.ndarray | None = None
    novelty: NoveltyInfo | None = None
    examples: Examples | None = None

    def save(self, artifacts_dir: Path, route: str, data_source: str = "", extra: artifact.Extra = None) -> Path:
        """Write a new version under `artifacts_dir/route/` and point `latest` at it; returns its folder.

        *data_source* says where the training rows came from, for the manifest; *extra* writes more
        files into the version folder before it is published (the tuned encoder).
        """
        fields: dict[str, Any] = {
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
            "novelty": self.novelty,
        }
        return artifact.write(artifacts_dir / route, self.estimator, fields, centroids=self.centroids,
                              examples=self.examples, extra=extra)


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    embedder: Embedder,
    options: TrainOptions = TrainOptions(),
    *,
    vectors: np.ndarray | None = None,
    oos_vectors: np.ndarray | None = None,
    calibrate_on: np.ndarray | None = None,
    embedder_id: str | None = None,
    progress: Progress | None = None,
) -> TrainedHead:
    """Fit a logistic-regression head on all rows, calibrated on cross-fitted out-of-fold predictions.

    With `options.knn` the head keeps the rows' vectors: the nearest rows' vote is mixed into its
    probabilities (out of fold: only rows outside the row's fold vote). The out-of-fold predictions
    set the softmax temperature and the lowest confidence threshold at which the lower confidence
    bound of the kept answers' accuracy reaches the target. *vectors* are the rows' embeddings when
    the caller already has them (in the order of *texts*). *calibrate_on* (a boolean mask) limits
    calibration to rows the embedder never trained on.
    """
    _check_inputs(texts, labels, options.folds)
    report = progress or _silent
    x = _embed(texts, embedder, report) if vectors is None else np.asarray(vectors, dtype=np.float32)
    y = np.asarray(labels, dtype=object)
    classes = sorted(set(y.tolist()))
    ids = crossfit.fold_ids(y, options.folds, options.seed)

    def fit(fx: np.ndarray, fy: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=options.regularization, max_iter=2000, random_state=options.seed).fit(fx, fy)

    logits = crossfit.out_of_fold_logits(x, y, classes, fit, ids, report)
    report("fitting", 0, 1)
    estimator = fit(x, y)
    report("fitting", 1, 1)
    report("calibrating", 0, 1)
    rows = np.ones(len(y), dtype=bool) if calibrate_on is None else np.asarray(calibrate_on, dtype=bool)
    temperature = crossfit.fit_temperature(logits[rows], y[rows], classes)
    probs, examples, fold_nearest = _vote(x, y, classes, ids, crossfit.softmax(logits, temperature), options)
    calibration = _calibration(probs[rows], y[rows], classes, temperature, options)
    scope = _novelty(x, y, classes, ids, rows, examples, fold_nearest, oos_vectors, options)
    report("calibrating", 1, 1)
    labels_order = [str(label) for label in estimator.classes_]
    head = ClassifierHead.from_coefficients(estimator.coef_, estimator.intercept_, labels_order, temperature)
    return TrainedHead(
        head=head.with_novelty(scope.centroids, scope.info.threshold).with_examples(examples),
        estimator=estimator,
        calibration=calibration,
        embedder_id=embedder_id or embedder.model_id,
        dim=int(x.shape[1]),
        data_checksum=data_checksum(texts, labels),
        n_train=len(y),
        n_calibration=int(rows.sum()),
        centroids=scope.centroids,
        novelty=scope.info,
        examples=examples,
    )


def _vote(
    x: np.ndarray, y: np.ndarray, classes: list[str], ids: np.ndarray, probs: np.ndarray, options: TrainOptions
) -> tuple[np.ndarray, Examples | None, np.ndarray | None]:
    """The out-of-fold probabilities with each row's neighbours outside its fold voting, the examples kept,
    and each row's out-of-fold nearest similarity; *probs* unchanged when the head keeps no examples."""
    if options.knn is None or len(y) > MAX_EXAMPLES:
        return probs, None, None
    columns = np.searchsorted(np.asarray(classes, dtype=object), y)
    votes, fold_nearest = knn.out_of_fold_votes(x, columns, ids, len(classes), options.knn)
    examples = Examples(x, columns, len(classes), options.knn)
    return examples.mix(probs, votes), examples, fold_nearest


@dataclass(frozen=True)
class _Scope:
    info: NoveltyInfo
    centroids: np.ndarray | None


def _novelty(
    x: np.ndarray, y: np.ndarray, classes: list[str], ids: np.ndarray, rows: np.ndarray, examples: Examples | None,
    fold_nearest: np.ndarray | None, oos_vectors: np.ndarray | None, options: TrainOptions,
) -> _Scope:
    """The out-of-scope bar on out-of-fold scores: nearest training example when the head keeps its examples.

    The nearest example separated unseen intents best on banking77 (docs/eval.md); heads without
    examples fall back to the nearest class centroid.
    """
    has_oos = oos_vectors is not None and len(oos_vectors) > 0
    if examples is not None and fold_nearest is not None:
        oos = examples.vote(np.asarray(oos_vectors))[1] if has_oos else None
        novel = novelty.calibrate(fold_nearest[rows], oos, options.max_in_scope_rejection)
        return _Scope(NoveltyInfo(**vars(novel), score="nearest example"), None)
    centres = novelty.centroids(x, y, classes)
    oos = novelty.similarity(np.asarray(oos_vectors), centres) if has_oos else None
    fold_scores = novelty.out_of_fold_similarity(x, y, classes, ids)[rows]
    novel = novelty.calibrate(fold_scores, oos, options.max_in_scope_rejection)
    return _Scope(NoveltyInfo(**vars(novel)), centres)


def data_checksum(texts: Sequence[str], labels: Sequence[str]) -> str:
    """sha256 over the (text, label) pairs: the same data in another file format checks the same."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{text}\x1f{label}\x1e".encode())
    return digest.hexdigest()


def _calibration(
    probs: np.ndarray, y: np.ndarray, classes: list[str], temperature: float, options: TrainOptions
) -> Calibration:
    predicted = np.asarray(classes, dtype=object)[probs.argmax(axis=1)]
    confidence = probs.max(axis=1)
    correct = predicted == y
    choice = choose_threshold(confidence, correct, options.target_accuracy, options.level)
    table = [ThresholdRow(**point._asdict()) for point in threshold_table(confidence, correct, level=options.level)]
    return Calibration(
        temperature=temperature,
        accuracy=float(correct.mean()),
        target_accuracy=options.target_accuracy,
        threshold=choice.threshold,
        coverage=choice.coverage,
        threshold_accuracy=choice.accuracy,
        reached=choice.reached,
        table=table,
        method=f"cross-fit, {options.folds} folds",
        confidence_level=options.level,
        lower_bound=choice.lower_bound,
    )


def _check_inputs(texts: Sequence[str], labels: Sequence[str], folds: int) -> None:
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if len(texts) < MIN_ROWS:
        raise ValueError(f"need at least {MIN_ROWS} labelled rows, got {len(texts)}")
    if len(set(labels)) < 2:
        raise ValueError("need at least two different labels")
    if not 2 <= folds <= len(texts):
        raise ValueError(f"folds must be between 2 and the number of rows, got {folds}")


def _silent(stage: str, done: int, total: int) -> None:
    return None


def _embed(texts: Sequence[str], embedder: Embedder, report: Progress) -> np.ndarray:
    chunks = []
    report("embedding", 0, len(texts))
    for start in range(0, len(texts), EMBED_CHUNK):
        chunks.append(embedder.encode(list(texts[start : start + EMBED_CHUNK])))
        report("embedding", min(start + EMBED_CHUNK, len(texts)), len(texts))
    return np.vstack(chunks).astype(np.float32, copy=False)
