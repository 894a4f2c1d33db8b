"""The artifact folder a fine-tuned head lives in: `<artifacts>/<route>/<version>/` plus a `latest` pointer.

    artifacts/banking77/latest          text: the current version name ("v3")
    artifacts/banking77/v3/manifest.json
    artifacts/banking77/v3/head.npz     the fitted weights: coef, intercept, classes (plain arrays)
    artifacts/banking77/v3/novelty.npy  class centroids for the out-of-scope score (plain .npy, no pickle)
    artifacts/banking77/v3/examples.npz the training vectors and label columns: the neighbours' vote and the
                                        nearest-example out-of-scope score (format-2 artifacts without it
                                        serve the head alone and the centroid score)
    artifacts/banking77/v3/encoder/     with `--method encoder`: the tuned sentence-transformers model

The head is stored as plain numpy arrays and read with `allow_pickle=False`: a route file (hot
reloaded) names the artifact folder, so loading one must never run code. Format-1 artifacts held a
joblib pickle; they are refused with the command that rebuilds them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from gateway.config.base import Strict
from gateway.errors import ConfigError
from gateway.smallmodel.knn import Examples, KnnSettings

MODEL_FILE = "head.npz"
PICKLED_MODEL_FILE = "model.joblib"
FORMAT = 2
NOVELTY_FILE = "novelty.npy"
EXAMPLES_FILE = "examples.npz"
ENCODER_DIR = "encoder"
Extra = Callable[[Path], dict[str, Any]] | None
"""Writes more files into a staging version folder; returns manifest fields describing them."""
MANIFEST_FILE = "manifest.json"
LATEST = "latest"
_VERSION = re.compile(r"^v(\d+)$")


class ArtifactError(ConfigError):
    """An artifact that is missing, broken, or was built for another embedder."""


class ThresholdRow(Strict):
    threshold: float
    coverage: float
    accuracy: float
    lower_bound: float = 0.0


class Calibration(Strict):
    """Measured on out-of-fold predictions (older artifacts: a held-out split), after temperature scaling.

    `threshold` is the lowest confidence at which the `confidence_level` lower bound of the kept
    answers' accuracy (`lower_bound`) reaches `target_accuracy`.
    """

    temperature: float
    accuracy: float
    target_accuracy: float
    threshold: float
    coverage: float
    threshold_accuracy: float
    reached: bool
    table: list[ThresholdRow]
    method: str = "held-out split"
    confidence_level: float = 0.5
    lower_bound: float = 0.0


class NoveltyInfo(Strict):
    """The out-of-scope bar: a query whose similarity (`score`) is below `threshold` is out of scope.

    `score` is "centroid" (the nearest class centroid, novelty.npy) or "nearest example" (the nearest
    training row, examples.npz).
    """

    threshold: float
    score: Literal["centroid", "nearest example"] = "centroid"
    in_scope_rejected: float
    oos_caught: float | None = None
    n_oos: int = 0
    max_in_scope_rejection: float
    sha256: str = ""


class KnnInfo(Strict):
    """The nearest training examples' vote (examples.npz), mixed into the head's probabilities."""

    k: int
    scale: float
    weight: float
    n_examples: int
    sha256: str = ""


class EncoderInfo(Strict):
    """A tuned encoder in the version's `encoder/` folder: the small model embeds queries itself."""

    base_model: str
    sha256: str
    epochs: int
    steps: int
    seconds: float
    cpu_seconds: float = 0.0


class Manifest(Strict):
    format: int = FORMAT
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
    novelty: NoveltyInfo | None = None
    knn: KnnInfo | None = None
    encoder: EncoderInfo | None = None


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


@dataclass(frozen=True)
class Weights:
    """A linear head as sklearn fits it: coef (classes x dim, or 1 x dim for two classes), intercept, classes."""

    coef: np.ndarray
    intercept: np.ndarray
    classes: list[str]


def read_weights(folder: Path, manifest: Manifest) -> Weights:
    """The head's arrays, after checking the file is the one the manifest was written with; never unpickles."""
    if manifest.format < FORMAT or (folder / PICKLED_MODEL_FILE).exists():
        raise ArtifactError(f"{folder}: a format-{manifest.format} artifact stores its head as a pickle, which the "
                            f"gateway does not load; rebuild it with `ragway finetune --route {manifest.route}`")
    path = folder / MODEL_FILE
    data = _checked_bytes(path, manifest.model_sha256)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return Weights(np.asarray(arrays["coef"], dtype=np.float64),
                           np.asarray(arrays["intercept"], dtype=np.float64),
                           [str(label) for label in arrays["classes"]])
    except (ValueError, KeyError, OSError) as exc:
        raise ArtifactError(f"{path}: not a head's arrays: {exc}") from None


def next_version(route_dir: Path) -> str:
    """v1 for a new route, else one past the highest existing version."""
    numbers = [int(m.group(1)) for p in route_dir.glob("v*") if (m := _VERSION.match(p.name))]
    return f"v{max(numbers, default=0) + 1}"


def write(
    route_dir: Path, estimator: Any, manifest_fields: dict[str, Any], *,
    centroids: np.ndarray | None = None, examples: Examples | None = None, extra: Extra = None,
) -> Path:
    """Write a new version folder and point `latest` at it; readers never see half a version.

    Only the fitted arrays of *estimator* (`coef_`, `intercept_`, `classes_`) are stored, and
    *examples* (training vectors and label columns) when the head votes with its neighbours.
    """
    route_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(route_dir)
    staging = route_dir / f".{version}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    with (staging / MODEL_FILE).open("wb") as handle:
        np.savez(handle, coef=np.asarray(estimator.coef_, dtype=np.float64),
                 intercept=np.asarray(estimator.intercept_, dtype=np.float64),
                 classes=np.asarray([str(c) for c in estimator.classes_], dtype=np.str_))
    digest = _file_sha256(staging / MODEL_FILE)
    fields = dict(manifest_fields)
    if centroids is not None and fields.get("novelty") is not None:
        np.save(staging / NOVELTY_FILE, np.asarray(centroids, dtype=np.float32), allow_pickle=False)
        novelty_sha = _file_sha256(staging / NOVELTY_FILE)
        fields["novelty"] = NoveltyInfo.model_validate({**_as_dict(fields["novelty"]), "sha256": novelty_sha})
    if examples is not None:
        fields["knn"] = _write_examples(staging, examples)
    if extra is not None:
        fields.update(extra(staging))
    manifest = Manifest(version=version, model_sha256=digest, **fields)
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest.model_dump(), indent=2) + "\n", encoding="utf-8")
    staging.rename(route_dir / version)
    pointer = route_dir / f".{LATEST}.tmp"
    pointer.write_text(version + "\n", encoding="utf-8")
    os.replace(pointer, route_dir / LATEST)
    return route_dir / version


def _write_examples(staging: Path, examples: Examples) -> KnnInfo:
    with (staging / EXAMPLES_FILE).open("wb") as handle:
        np.savez(handle, vectors=examples.vectors, labels=examples.labels)
    settings = examples.settings
    return KnnInfo(k=settings.k, scale=settings.scale, weight=settings.weight, n_examples=len(examples.labels),
                   sha256=_file_sha256(staging / EXAMPLES_FILE))


def read_examples(folder: Path, manifest: Manifest) -> Examples | None:
    """The training examples the head votes with, checked against the manifest; None in older artifacts."""
    if manifest.knn is None:
        return None
    path = folder / EXAMPLES_FILE
    data = _checked_bytes(path, manifest.knn.sha256)
    info = manifest.knn
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            vectors, labels = np.asarray(arrays["vectors"]), np.asarray(arrays["labels"])
        if vectors.shape != (info.n_examples, manifest.dim):
            raise ValueError(f"vectors {vectors.shape} do not fit {info.n_examples} examples x {manifest.dim}")
        settings = KnnSettings(k=info.k, scale=info.scale, weight=info.weight)
        return Examples(vectors, labels, len(manifest.labels), settings)
    except (ValueError, KeyError, OSError) as exc:
        raise ArtifactError(f"{path}: not a head's examples: {exc}") from None


def read_centroids(folder: Path, manifest: Manifest) -> np.ndarray | None:
    """The class centroids of the novelty score, checked against the manifest; None when it is not served."""
    if manifest.novelty is None or manifest.novelty.score != "centroid":
        return None
    path = folder / NOVELTY_FILE
    data = _checked_bytes(path, manifest.novelty.sha256)
    centres = np.load(io.BytesIO(data), allow_pickle=False)
    if centres.shape != (len(manifest.labels), manifest.dim):
        expected = f"{len(manifest.labels)} labels x {manifest.dim}"
        raise ArtifactError(f"{path}: shape {centres.shape} does not fit {expected}")
    return centres


def _checked_bytes(path: Path, sha256: str) -> bytes:
    """The bytes of *path*, after checking they are the ones the manifest recorded; ArtifactError otherwise."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read: {exc.strerror}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError(f"{path}: checksum does not match {MANIFEST_FILE} (the file changed after training)")
    return data


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _as_dict(value: Any) -> dict[str, Any]:
    return value.model_dump() if hasattr(value, "model_dump") else dict(value)


def encoder_digest(folder: Path) -> str:
    """sha256 over every file of a saved encoder folder (names and bytes, in sorted order)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_encoder(folder: Path, manifest: Manifest) -> Any:
    """The tuned encoder of an `--method encoder` artifact, checked against the manifest."""
    from gateway.smallmodel.encoder import TunedEncoder  # torch loads only for encoder artifacts

    assert manifest.encoder is not None
    path = folder / ENCODER_DIR
    if not path.is_dir():
        raise ArtifactError(f"{path}: missing (the manifest names a tuned encoder)")
    if encoder_digest(path) != manifest.encoder.sha256:
        raise ArtifactError(f"{path}: checksum does not match {MANIFEST_FILE} (the files changed after training)")
    encoder = TunedEncoder.load(path, f"{manifest.encoder.base_model}+{manifest.route}/{manifest.version}")
    if encoder.dim != manifest.dim:
        raise ArtifactError(f"{path}: {encoder.dim}-d but the manifest says {manifest.dim}")
    return encoder
