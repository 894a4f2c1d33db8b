"""The nearest examples' vote mixed into the head, and the nearest-example out-of-scope score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gateway.smallmodel import ArtifactError, ClassifierHead
from gateway.smallmodel.knn import Examples, KnnSettings, knn_votes, nearest, out_of_fold_votes
from gateway.smallmodel.train import TrainOptions, train
from tests.gateway.smallmodel.fakes import FakeEmbedder, fake_dataset


def unit(*rows: list[float]) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_votes_weigh_each_neighbour_by_exp_similarity_over_scale() -> None:
    sims = np.array([[0.9, 0.8, 0.8]])
    votes = knn_votes(sims, np.array([[0, 1, 1]]), 3, scale=0.1)
    one, two = np.exp(0.0), 2 * np.exp(-1.0)  # weights relative to the nearest: exp((s - 0.9) / 0.1)
    assert votes[0] == pytest.approx([one / (one + two), two / (one + two), 0.0])
    assert knn_votes(sims, np.array([[0, 1, 1]]), 3, scale=0.001)[0, 0] == pytest.approx(1.0)


def test_nearest_returns_the_closest_first_and_caps_k() -> None:
    examples = unit([1, 0], [0.6, 0.8], [0, 1], [-1, 0])
    sims, rows = nearest(unit([0.8, 0.6]), examples, k=3)
    assert rows.tolist() == [[1, 0, 2]]
    assert sims[0] == pytest.approx([0.96, 0.8, 0.6])
    sims, rows = nearest(unit([0.6, 0.8]), examples, k=10)
    assert rows.shape == (1, 4) and rows[0, 0] == 1 and sims[0, 0] == pytest.approx(1.0)
    assert np.all(np.diff(sims[0]) <= 0)


def test_out_of_fold_votes_never_let_a_row_see_itself() -> None:
    x = unit([1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99])
    labels, ids = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    votes, near = out_of_fold_votes(x, labels, ids, 2, KnnSettings(k=1, scale=0.02))
    assert np.all(near < 0.9999)  # each row's own vector sits in its own fold
    assert votes.argmax(axis=1).tolist() == [0, 0, 1, 1]


def test_examples_must_fit_their_labels() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        Examples(unit([1, 0]), np.array([0, 1]), 2, KnnSettings())
    with pytest.raises(ValueError, match=r"columns 0\.\.1"):
        Examples(unit([1, 0]), np.array([2]), 2, KnnSettings())


def test_a_near_duplicate_example_overrides_an_unsure_head() -> None:
    # The head alone leans to "a"; a training row almost identical to the query is labelled "b".
    head = ClassifierHead(np.array([[0.2, 0.0], [0.0, 0.1]]), np.zeros(2), ["a", "b"])
    query = unit([1, 0.9])[0]
    assert head.predict(query).label == "a"
    head_b = float(head.probabilities(query[None])[0, 1])
    examples = Examples(unit([1, 0.9], [1, -1], [-1, 1]), np.array([1, 0, 0]), 2, KnnSettings(k=3, weight=0.4))
    voted = head.with_examples(examples).predict(query)
    assert voted.label == "b"
    assert head.similarities(query[None]) == pytest.approx([1.0])  # the novelty score: the nearest example
    assert voted.confidence == pytest.approx(0.6 * head_b + 0.4, abs=1e-3)  # the near-duplicate's vote is ~all


def test_weight_zero_keeps_the_head_and_still_scores_novelty() -> None:
    head = ClassifierHead(np.array([[0.2, 0.0], [0.0, 0.1]]), np.zeros(2), ["a", "b"])
    query = unit([1, 0.9])[0]
    alone = head.predict(query)
    examples = Examples(unit([1, 0.9], [1, -1]), np.array([1, 0]), 2, KnnSettings(k=2, weight=0.0))
    scored = head.with_examples(examples).predict(query)
    assert (scored.label, scored.confidence) == (alone.label, pytest.approx(alone.confidence))
    assert head.similarities(query[None]) == pytest.approx([1.0])


@pytest.fixture(scope="module")
def noisy() -> tuple[list[str], list[str], FakeEmbedder]:
    texts, labels = fake_dataset(classes=5, per_class=40)
    return texts, labels, FakeEmbedder(noise=1.2)


def test_training_mixes_the_vote_into_calibration_and_the_served_head(noisy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    texts, labels, embedder = noisy
    voted = train(texts, labels, embedder, TrainOptions(target_accuracy=0.9))
    alone = train(texts, labels, embedder, TrainOptions(target_accuracy=0.9, knn=None))
    assert voted.examples is not None and alone.examples is None
    assert voted.calibration.accuracy != alone.calibration.accuracy  # calibrated on the mixed probabilities
    assert voted.novelty is not None and voted.novelty.score == "nearest example"
    assert alone.novelty is not None and alone.novelty.score == "centroid"
    folder = voted.save(tmp_path, "intents")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["knn"]["n_examples"] == 200 and manifest["knn"]["weight"] == 0.4
    assert not (folder / "novelty.npy").exists()  # the centroids are not the served score
    loaded = ClassifierHead.load(folder, embedder.model_id, embedder.dim)
    queries = embedder.encode(["intent1 q", "intent3 r", "intent4 s"])
    assert np.allclose(loaded.probabilities(queries), voted.head.probabilities(queries), atol=1e-6)
    assert np.allclose(loaded.similarities(queries), voted.head.similarities(queries))  # type: ignore[arg-type]
    assert not np.allclose(loaded.probabilities(queries), alone.head.probabilities(queries), atol=1e-3)


def test_an_artifact_without_examples_serves_the_head_and_centroids(noisy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    texts, labels, embedder = noisy
    alone = train(texts, labels, embedder, TrainOptions(knn=None))
    folder = alone.save(tmp_path, "intents")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["knn"] is None
    del manifest["knn"], manifest["novelty"]["score"]  # as written before examples existed
    (folder / "manifest.json").write_text(json.dumps(manifest))
    loaded = ClassifierHead.load(folder, embedder.model_id, embedder.dim)
    queries = embedder.encode(["intent1 q", "intent3 r"])
    assert np.allclose(loaded.probabilities(queries), alone.head.probabilities(queries), atol=1e-6)
    assert np.allclose(loaded.similarities(queries), alone.head.similarities(queries))  # type: ignore[arg-type]


def test_changed_examples_are_refused(noisy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    texts, labels, embedder = noisy
    folder = train(texts, labels, embedder).save(tmp_path, "intents")
    with np.load(folder / "examples.npz") as arrays:
        vectors, rows = arrays["vectors"], arrays["labels"]
    np.savez(folder / "examples.npz", vectors=vectors, labels=np.roll(rows, 1))
    with pytest.raises(ArtifactError, match=r"examples\.npz: checksum does not match"):
        ClassifierHead.load(folder, embedder.model_id, embedder.dim)
