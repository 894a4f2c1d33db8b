"""train(): a calibrated head and its threshold, on fake vectors and on real banking77 embeddings."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gateway.smallmodel import ArtifactError, ClassifierHead, Embedder
from gateway.smallmodel.train import data_checksum, train
from tests.gateway.smallmodel.fakes import FakeEmbedder, fake_dataset


def test_progress_reports_every_stage() -> None:
    texts, labels = fake_dataset()
    seen: list[tuple[str, int, int]] = []
    train(texts, labels, FakeEmbedder(), progress=lambda *call: seen.append(call))
    assert ("embedding", 200, 200) in seen
    assert [s for s, _, _ in seen if s != "embedding"] == ["fitting", "fitting", "calibrating", "calibrating"]


def test_threshold_reaches_the_target_on_the_calibration_split() -> None:
    texts, labels = fake_dataset(classes=6, per_class=60)
    embedder = FakeEmbedder(noise=1.5)
    trained = train(texts, labels, embedder, target_accuracy=0.97, seed=2)
    cal = trained.calibration
    assert cal.reached and cal.threshold_accuracy >= 0.97
    assert cal.accuracy < cal.threshold_accuracy  # the noisy data needs a bar above zero
    assert 0 < cal.coverage < 1


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    [
        (["a"] * 20, ["x"] * 19, "20 texts but 19 labels"),
        (["a"] * 5, ["x", "y"] * 2 + ["x"], "at least 10"),
        (["a"] * 20, ["x"] * 20, "two different labels"),
    ],
)
def test_bad_training_data_is_refused(texts: list[str], labels: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train(texts, labels, FakeEmbedder())


def test_checksum_follows_the_pairs() -> None:
    assert data_checksum(["a", "b"], ["x", "y"]) == data_checksum(["a", "b"], ["x", "y"])
    assert data_checksum(["a", "b"], ["x", "y"]) != data_checksum(["a", "b"], ["y", "x"])


@pytest.mark.slow
def test_real_embedder_round_trip(banking_rows: list[tuple[str, str]], minilm: Embedder, tmp_path: Path) -> None:
    texts, labels = [t for t, _ in banking_rows], [c for _, c in banking_rows]
    trained = train(texts, labels, minilm, target_accuracy=0.95, seed=0)
    cal = trained.calibration
    assert cal.accuracy > 0.85
    assert cal.reached and cal.threshold_accuracy >= 0.95
    folder = trained.save(tmp_path, "banking77")
    head = ClassifierHead.load(tmp_path / "banking77", minilm.model_id, minilm.dim)
    queries = ["my card has not arrived yet", "I want to close my account"]
    vectors = minilm.encode(queries)
    predicted = [head.predict(v) for v in vectors]
    assert [p.label for p in predicted] == ["card_arrival", "terminate_account"]
    assert np.allclose(head.probabilities(vectors), trained.head.probabilities(vectors), atol=1e-6)
    mismatch = re.escape(f"'{minilm.model_id}' (384-d) but the gateway runs 'other' (768-d)")
    with pytest.raises(ArtifactError, match=mismatch):
        ClassifierHead.load(folder, "other", 768)
