"""`finetune --method encoder`: tune the embedder on the rows, then fit and calibrate a head on its vectors.

The encoder never trains on the calibration fold (1/folds of the rows, stratified): the
confidence threshold and the out-of-scope bar are set on rows neither the encoder nor the
fold heads saw. The served head is fitted on every row's tuned embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from gateway.smallmodel import artifact, crossfit
from gateway.smallmodel.artifact import EncoderInfo
from gateway.smallmodel.encoder import EncoderSettings, TunedEncoder, TuningReport, tune
from gateway.smallmodel.train import Progress, TrainedHead, TrainOptions, train


def train_with_encoder(
    texts: Sequence[str],
    labels: Sequence[str],
    base: tuple[str, str],
    options: TrainOptions,
    settings: EncoderSettings,
    *,
    oos_texts: Sequence[str] = (),
    base_vectors: np.ndarray | None = None,
    progress: Progress | None = None,
) -> tuple[TrainedHead, TunedEncoder, TuningReport]:
    """*base* is (model path, embedder id) of the gateway's embedder, the starting weights.

    *base_vectors* are the rows' embeddings by that embedder (e.g. from the example index), if known.
    """
    y = np.asarray(labels, dtype=object)
    held = crossfit.fold_ids(y, options.folds, options.seed) == 0
    tuning_rows = [int(i) for i in np.flatnonzero(~held)]
    encoder, report = tune(
        base[0], [texts[i] for i in tuning_rows], [labels[i] for i in tuning_rows], settings, progress,
        vectors=None if base_vectors is None else base_vectors[tuning_rows],
    )
    # The neighbours' vote was chosen on the base embedder's vectors, not on tuned ones: the head on a
    # tuned encoder keeps its examples for the out-of-scope score only (weight 0).
    knn = options.knn and replace(options.knn, weight=0.0)
    head = train(
        texts, labels, encoder, replace(options, knn=knn),
        oos_vectors=encoder.encode(list(oos_texts)) if oos_texts else None,
        calibrate_on=held, embedder_id=base[1], progress=progress,
    )
    return head, encoder, report


def save_with_encoder(
    trained: TrainedHead, encoder: TunedEncoder, report: TuningReport, base_id: str,
    settings: EncoderSettings, artifacts_dir: Path, route: str, data_source: str,
) -> Path:
    """Write the head and the tuned encoder into one new version folder."""

    def write_encoder(staging: Path) -> dict[str, Any]:
        encoder.save(staging / artifact.ENCODER_DIR)
        info = EncoderInfo(
            base_model=base_id, sha256=artifact.encoder_digest(staging / artifact.ENCODER_DIR),
            epochs=settings.epochs, steps=report.steps, seconds=round(report.seconds, 1),
            cpu_seconds=round(report.cpu_seconds, 1),
        )
        return {"encoder": info}

    return trained.save(artifacts_dir, route, data_source=data_source, extra=write_encoder)
