"""Encoder tuning (`finetune --method encoder`) on a tiny slice: it trains, saves, loads and is checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.smallmodel import ArtifactError, ClassifierHead
from gateway.smallmodel.encoder import EncoderSettings, tune
from gateway.smallmodel.train import TrainOptions
from gateway.smallmodel.tuned import save_with_encoder, train_with_encoder
from retrieval.embedder import DEFAULT_MODEL, resolve_model

pytestmark = pytest.mark.slow
LABELS = ("card_arrival", "exchange_rate", "change_pin", "top_up_failed")


@pytest.fixture(scope="module")
def rows(banking_rows: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    kept = [row for label in LABELS for row in [r for r in banking_rows if r[1] == label][:15]]
    return [t for t, _ in kept], [c for _, c in kept]


def test_tuning_runs_its_steps_and_stops_at_the_time_limit(rows: tuple[list[str], list[str]]) -> None:
    texts, labels = rows
    encoder, report = tune(resolve_model(DEFAULT_MODEL), texts, labels, EncoderSettings(epochs=1, batch_size=16))
    assert (report.steps, report.planned_steps) == (4, 4) and not report.stopped_early
    assert np.isfinite(report.final_loss)
    vectors = encoder.encode(texts[:3])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    _, cut = tune(resolve_model(DEFAULT_MODEL), texts, labels, EncoderSettings(epochs=2, batch_size=16, max_seconds=0))
    assert cut.steps == 1 and cut.stopped_early


def test_encoder_artifact_round_trip_and_tamper_check(rows: tuple[list[str], list[str]], tmp_path: Path) -> None:
    texts, labels = rows
    settings = EncoderSettings(epochs=1, batch_size=16)
    trained, encoder, report = train_with_encoder(
        texts, labels, (resolve_model(DEFAULT_MODEL), DEFAULT_MODEL), TrainOptions(target_accuracy=0.9), settings
    )
    assert trained.n_train == 60 and trained.n_calibration == 12  # the encoder never saw the calibration fold
    folder = save_with_encoder(trained, encoder, report, DEFAULT_MODEL, settings, tmp_path, "intents", "csv:t")
    head = ClassifierHead.load(tmp_path / "intents", DEFAULT_MODEL, 384)
    assert head.encoder is not None and head.manifest is not None and head.manifest.encoder is not None
    assert head.manifest.encoder.steps == 3  # 48 tuning rows in batches of 16
    assert np.allclose(head.encoder.encode(texts[:2]), encoder.encode(texts[:2]), atol=1e-5)
    assert head.predict(head.encoder.encode(["my card has not arrived yet"])[0]).label == "card_arrival"
    weights = next((folder / "encoder").rglob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ArtifactError, match="checksum does not match"):
        ClassifierHead.load(folder, DEFAULT_MODEL, 384)
