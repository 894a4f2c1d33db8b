"""train(): a calibrated head and its threshold, on fake vectors and on real banking77 embeddings."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gateway.smallmodel import ArtifactError, ClassifierHead, Embedder
from gateway.smallmodel.threshold import wilson_lower
from gateway.smallmodel.train import TrainOptions, data_checksum, train
from tests.gateway.smallmodel.fakes import FakeEmbedder, fake_dataset


def test_progress_reports_every_stage() -> None:
    texts, labels = fake_dataset()
    seen: list[tuple[str, int, int]] = []
    train(texts, labels, FakeEmbedder(), progress=lambda *call: seen.append(call))
    assert ("embedding", 200, 200) in seen
    assert ("cross-fitting", 5, 5) in seen
    assert [s for s, _, _ in seen if s not in ("embedding", "cross-fitting")] == [
        "fitting", "fitting", "calibrating", "calibrating"
    ]


def test_threshold_lower_bound_reaches_the_target_out_of_fold() -> None:
    texts, labels = fake_dataset(classes=6, per_class=60)
    embedder = FakeEmbedder(noise=1.5)
    trained = train(texts, labels, embedder, TrainOptions(target_accuracy=0.9, seed=2))
    cal = trained.calibration
    assert cal.reached and cal.lower_bound >= 0.9
    assert cal.threshold_accuracy > cal.lower_bound  # the bound sits below the point estimate
    kept = round(cal.coverage * 360)
    assert cal.lower_bound == pytest.approx(float(wilson_lower(round(cal.threshold_accuracy * kept), kept)))
    assert cal.accuracy < cal.threshold_accuracy  # the noisy data needs a bar above zero
    assert 0 < cal.coverage < 1
    assert (trained.n_train, trained.n_calibration) == (360, 360)  # no row lost to calibration
    assert cal.method == "cross-fit, 5 folds" and cal.confidence_level == 0.95


def test_given_vectors_are_used_instead_of_embedding() -> None:
    texts, labels = fake_dataset()
    vectors = FakeEmbedder().encode(texts)

    class Refusing(FakeEmbedder):
        def encode(self, texts, batch_size=64, progress=False):  # type: ignore[no-untyped-def]
            raise AssertionError("embedded rows it was given vectors for")

    trained = train(texts, labels, Refusing(), vectors=vectors)
    assert trained.head.predict(vectors[0]).label == labels[0]


def test_out_of_scope_bar_rejects_little_in_scope_and_catches_far_queries() -> None:
    texts, labels = fake_dataset(classes=6, per_class=60)
    embedder = FakeEmbedder(noise=0.6)
    known, unseen = [t for t in texts if not t.startswith("intent5")], [t for t in texts if t.startswith("intent5")]
    rows = [label for label in labels if label != "intent5"]
    trained = train(known, rows, embedder)
    assert trained.novelty is not None and trained.novelty.in_scope_rejected <= 0.02
    predictions = [trained.head.predict(v) for v in embedder.encode(unseen)]
    assert sum(p.novel for p in predictions) / len(predictions) > 0.9
    flagged = [trained.head.predict(v).novel for v in embedder.encode(known)]
    assert sum(flagged) / len(flagged) <= 0.05
    sharpened = train(known, rows, embedder, oos_vectors=embedder.encode(unseen[:20]))
    assert sharpened.novelty is not None and sharpened.novelty.n_oos == 20
    assert sharpened.novelty.oos_caught is not None and sharpened.novelty.oos_caught > 0.9


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
    trained = train(texts, labels, minilm, TrainOptions(target_accuracy=0.95, seed=0))
    cal = trained.calibration
    assert cal.accuracy > 0.85
    assert cal.reached and cal.lower_bound >= 0.95
    folder = trained.save(tmp_path, "banking77")
    head = ClassifierHead.load(tmp_path / "banking77", minilm.model_id, minilm.dim)
    queries = ["my card has not arrived yet", "I want to close my account"]
    vectors = minilm.encode(queries)
    predicted = [head.predict(v) for v in vectors]
    assert [p.label for p in predicted] == ["card_arrival", "terminate_account"]
    assert np.allclose(head.probabilities(vectors), trained.head.probabilities(vectors), atol=1e-6)
    assert head.novelty_threshold == trained.head.novelty_threshold
    assert [head.predict(v).similarity for v in vectors] == pytest.approx([p.similarity for p in predicted])
    assert not any(p.novel for p in predicted)
    mismatch = re.escape(f"'{minilm.model_id}' (384-d) but the gateway runs 'other' (768-d)")
    with pytest.raises(ArtifactError, match=mismatch):
        ClassifierHead.load(folder, "other", 768)
