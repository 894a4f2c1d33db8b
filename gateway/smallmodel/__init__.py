"""The fine-tuned small model: a classifier head on the gateway's embeddings, served in-process.

    train.train(texts, labels, embedder) -> TrainedHead  fit and calibrate; .save(artifacts_dir, route)
    ClassifierHead.load(path, embedder_id, dim)          refuses an artifact from another embedder
    head.predict(vector) -> Prediction(label, confidence)

Training pulls in scikit-learn and scipy, so `gateway.smallmodel.train` is imported on its own:
serving and the CLI's start-up stay light.
"""

from gateway.smallmodel.artifact import ArtifactError, Calibration, Manifest
from gateway.smallmodel.embedder import Embedder
from gateway.smallmodel.head import ClassifierHead, Prediction
from gateway.smallmodel.threshold import ThresholdChoice, ThresholdPoint, choose_threshold, threshold_table

__all__ = [
    "ArtifactError",
    "Calibration",
    "ClassifierHead",
    "Embedder",
    "Manifest",
    "Prediction",
    "ThresholdChoice",
    "ThresholdPoint",
    "choose_threshold",
    "threshold_table",
]
