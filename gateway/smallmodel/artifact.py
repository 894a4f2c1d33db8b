"""The artifact folder a fine-tuned head lives in: `<artifacts>/<route>/<version>/` plus a `latest` pointer.

    artifacts/banking77/latest          text: the current version name ("v3")
    artifacts/banking77/v3/manifest.json
    artifacts/banking77/v3/model.joblib the fitted sklearn estimator

The model file is a pickle: load artifacts only from folders you trust (ones `ragway finetune` wrote).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.config.base import Strict
from gateway.errors import ConfigError

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
LATEST = "latest"
_VERSION = re.compile(r"^v(\d+)$")


class ArtifactError(ConfigError):
    """An artifact that is missing, broken, or was built for another embedder."""


class ThresholdRow(Strict):
    threshold: float
    coverage: float
    accuracy: float


class Calibration(Strict):
    """Measured on the held-out calibration split, after temperature scaling."""

    temperature: float
    accuracy: float
    target_accuracy: float
    threshold: float
    coverage: float
    threshold_accuracy: float
    reached: bool
    table: list[ThresholdRow]


class Manifest(Strict):
    format: int = 1
    route: str
    version: str
    created: str
    embedder_id: str
    dim: int
    labels: list[str]
    data_checksum: str
    # where the rows came from: "csv:<file>" or "logs:<route> since <window>" (empty in older artifacts)
    data_source: str = ""
    n_train: int
    n_calibration: int
    model_sha256: str
    calibration: Calibration


def resolve(path: Path) -> Path:
    """The version folder *path* names: itself, or the one its `latest` pointer names."""
    if (path / MANIFEST_FILE).is_file():
        return path
    pointer = path / LATEST
    if pointer.is_file():
        version = pointer.read_text(encoding="utf-8").strip()
        if (path / version / MANIFEST_FILE).is_file():
            return path / version
        raise ArtifactError(f"{pointer}: points at '{version}', which has no {MANIFEST_FILE}")
    raise ArtifactError(f"{path}: no artifact here (expected {MANIFEST_FILE} or a '{LATEST}' pointer)")


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST_FILE
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read: {exc.strerror}") from None
    except ValidationError as exc:
        raise ArtifactError(f"{path}: not a valid manifest: {exc.errors()[0]['msg']}") from None


def read_estimator(folder: Path, manifest: Manifest) -> Any:
    """The sklearn estimator, after checking the file is the one the manifest was written with."""
    path = folder / MODEL_FILE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read: {exc.strerror}") from None
    if hashlib.sha256(data).hexdigest() != manifest.model_sha256:
        raise ArtifactError(f"{path}: checksum does not match {MANIFEST_FILE} (the file changed after training)")
    import joblib  # with numpy's parallel backends it costs a second of CLI start-up; load only when used

    return joblib.load(path)


def next_version(route_dir: Path) -> str:
    """v1 for a new route, else one past the highest existing version."""
    numbers = [int(m.group(1)) for p in route_dir.glob("v*") if (m := _VERSION.match(p.name))]
    return f"v{max(numbers, default=0) + 1}"


def write(route_dir: Path, estimator: Any, manifest_fields: dict[str, Any]) -> Path:
    """Write a new version folder and point `latest` at it; readers never see half a version."""
    import joblib

    route_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(route_dir)
    staging = route_dir / f".{version}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    joblib.dump(estimator, staging / MODEL_FILE)
    digest = hashlib.sha256((staging / MODEL_FILE).read_bytes()).hexdigest()
    manifest = Manifest(version=version, model_sha256=digest, **manifest_fields)
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest.model_dump(), indent=2) + "\n", encoding="utf-8")
    staging.rename(route_dir / version)
    pointer = route_dir / f".{LATEST}.tmp"
    pointer.write_text(version + "\n", encoding="utf-8")
    os.replace(pointer, route_dir / LATEST)
    return route_dir / version
