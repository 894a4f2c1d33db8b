"""Quality check on real data: the nearest training example's label is the gold label on banking77 test."""

from __future__ import annotations

import csv
from pathlib import Path

import faiss
import numpy as np
import pytest

from retrieval.ann import all_vectors
from retrieval.build import write_index
from retrieval.embedder import SentenceEmbedder
from retrieval.index import VectorIndex
from retrieval.manifest import FAISS_FILE, ROWS_FILE
from retrieval.payload import read_rows

# Embedding 13k texts takes tens of seconds on an idle 2-core machine and far longer on a busy one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def test_set(banking77_dir: Path, embedder: SentenceEmbedder) -> tuple[np.ndarray, list[str]]:
    with (banking77_dir / "test.csv").open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    return embedder.encode([r["text"] for r in records]), [r["category"] for r in records]


def nearest_label_accuracy(index: VectorIndex, test_set: tuple[np.ndarray, list[str]]) -> float:
    vectors, gold = test_set
    predicted = [hits[0].output for hits in index.search_many(vectors, k=1)]
    return float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)]))


def test_nearest_example_label_matches_gold(banking77_index: VectorIndex, test_set) -> None:
    """The served structure (an HNSW graph at this size, flat in indexes built before it) answers as exact search."""
    assert len(test_set[1]) == 3080 and len(banking77_index) == 10003
    served = nearest_label_accuracy(banking77_index, test_set)
    stored = all_vectors(faiss.read_index(str(banking77_index.path / FAISS_FILE)))
    _, nearest = faiss.knn(test_set[0], stored, 1, metric=faiss.METRIC_INNER_PRODUCT)
    labels = [row.output for row in read_rows(banking77_index.path / ROWS_FILE)]
    exact = float(np.mean([labels[row] == gold for row, gold in zip(nearest[:, 0], test_set[1], strict=True)]))
    assert served >= 0.90 and abs(served - exact) <= 0.002


def test_ivf_keeps_the_quality_and_reports_its_recall(
    banking77_index: VectorIndex, test_set, embedder: SentenceEmbedder, tmp_path: Path
) -> None:
    rows = read_rows(banking77_index.path / ROWS_FILE)
    vectors = all_vectors(faiss.read_index(str(banking77_index.path / FAISS_FILE)))
    manifest = write_index(tmp_path, "ivf", "examples", embedder, vectors, rows, ["train.csv"], ann_threshold=1000)
    ivf = VectorIndex.load(tmp_path / "ivf", embedder.model_id, embedder.dim)
    assert manifest.index_type == "ivf" and manifest.recall >= 0.95
    assert nearest_label_accuracy(ivf, test_set) >= 0.90
