"""Quality gate of the onnx embedder backend: banking77 answers within half a point of the torch backend.

Both ways a deployment meets it: everything embedded by onnx, and onnx queries against an index and a
classifier head built from torch vectors (the backends share one embedder id, so switching rebuilds nothing).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from gateway.smallmodel import ClassifierHead
from gateway.smallmodel.train import TrainOptions
from retrieval.embedder import SentenceEmbedder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
HALF_A_POINT = 0.005
Split = tuple[list[str], np.ndarray]


@pytest.fixture(scope="module")
def banking77(banking77_dir: Path) -> dict[str, Split]:
    splits = {}
    for split in ("train", "test"):
        with (banking77_dir / f"{split}.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        splits[split] = ([r["text"] for r in rows], np.array([r["category"] for r in rows]))
    return splits


@pytest.fixture(scope="module")
def vectors(banking77: dict[str, Split], onnx_embedder) -> dict[str, dict[str, np.ndarray]]:  # type: ignore[no-untyped-def]
    """backend -> split -> vectors of every banking77 text (13k texts per backend)."""
    torch = SentenceEmbedder()
    return {name: {split: embedder.encode(texts) for split, (texts, _) in banking77.items()}
            for name, embedder in (("torch", torch), ("onnx", onnx_embedder))}


def nearest_label_accuracy(train: np.ndarray, test: np.ndarray, banking77: dict[str, Split]) -> float:
    labels, gold = banking77["train"][1], banking77["test"][1]
    return float(np.mean(labels[np.argmax(test @ train.T, axis=1)] == gold))


def head_accuracy(train: np.ndarray, test: np.ndarray, banking77: dict[str, Split]) -> float:
    """The classifier head `ragway finetune` fits (its logistic regression), scored on the test split."""
    estimator = LogisticRegression(C=TrainOptions().regularization, max_iter=2000).fit(train, banking77["train"][1])
    head = ClassifierHead.from_coefficients(estimator.coef_, estimator.intercept_, list(estimator.classes_), 1.0)
    return float(np.mean([head.predict(v).label == g for v, g in zip(test, banking77["test"][1], strict=True)]))


@pytest.mark.parametrize("score", [nearest_label_accuracy, head_accuracy], ids=["1-NN", "head"])
def test_onnx_keeps_banking77_accuracy_within_half_a_point(score, vectors, banking77) -> None:  # type: ignore[no-untyped-def]
    torch, onnx = vectors["torch"], vectors["onnx"]
    reference = score(torch["train"], torch["test"], banking77)
    all_onnx = score(onnx["train"], onnx["test"], banking77)
    onnx_queries = score(torch["train"], onnx["test"], banking77)  # an index or head built before switching
    assert reference > 0.9
    assert abs(all_onnx - reference) <= HALF_A_POINT, (reference, all_onnx)
    assert abs(onnx_queries - reference) <= HALF_A_POINT, (reference, onnx_queries)
