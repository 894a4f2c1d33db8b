"""Versioned artifact folders: save, latest pointer, load, and the refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from gateway.smallmodel import ArtifactError, ClassifierHead
from gateway.smallmodel.artifact import next_version, resolve
from gateway.smallmodel.train import TrainOptions, train
from tests.gateway.smallmodel.fakes import FakeEmbedder, fake_dataset


@pytest.fixture(scope="module")
def trained():  # type: ignore[no-untyped-def]
    texts, labels = fake_dataset()
    return train(texts, labels, FakeEmbedder(), TrainOptions(target_accuracy=0.9, seed=1))


def test_save_writes_versions_and_points_latest_at_the_newest(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    first = trained.save(tmp_path, "intents")
    second = trained.save(tmp_path, "intents")
    assert (first.name, second.name) == ("v1", "v2")
    assert (tmp_path / "intents" / "latest").read_text().strip() == "v2"
    assert resolve(tmp_path / "intents") == second
    assert resolve(first) == first
    assert next_version(tmp_path / "intents") == "v3"
    assert not list((tmp_path / "intents").glob(".*"))


def test_manifest_records_what_the_head_was_trained_on(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((trained.save(tmp_path, "intents") / "manifest.json").read_text())
    assert manifest["embedder_id"] == "fake-embedder"
    assert manifest["dim"] == 16
    assert manifest["labels"] == ["intent0", "intent1", "intent2", "intent3"]
    assert len(manifest["data_checksum"]) == 64
    assert (manifest["n_train"], manifest["n_calibration"]) == (200, 200)  # cross-fitted: every row both
    calibration = manifest["calibration"]
    assert calibration["target_accuracy"] == 0.9
    assert {"threshold", "coverage", "accuracy", "temperature", "table"} <= set(calibration)
    assert [row["threshold"] for row in calibration["table"]][:2] == [0.5, 0.6]


def test_round_trip_predicts_the_same(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    folder = trained.save(tmp_path, "intents")
    loaded = ClassifierHead.load(folder.parent, "fake-embedder", 16)
    vectors = FakeEmbedder().encode(["intent2 x", "intent0 y", "intent3 z"])
    assert np.allclose(loaded.probabilities(vectors), trained.head.probabilities(vectors), atol=1e-6)
    assert loaded.predict(vectors[0]).label == "intent2"
    assert loaded.threshold == trained.calibration.threshold
    assert loaded.manifest is not None and loaded.manifest.version == "v1"


def test_load_refuses_another_embedder_naming_both(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    folder = trained.save(tmp_path, "intents")
    mismatch = r"'fake-embedder' \(16-d\) but the gateway runs 'other-model' \(384-d\)"
    with pytest.raises(ArtifactError, match=mismatch):
        ClassifierHead.load(folder, "other-model", 384)


def test_load_refuses_a_changed_model_file(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    folder = trained.save(tmp_path, "intents")
    with (folder / "head.npz").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(ArtifactError, match="checksum does not match"):
        ClassifierHead.load(folder, "fake-embedder", 16)


def test_resolve_refuses_missing_artifacts(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no artifact here"):
        resolve(tmp_path)
    (tmp_path / "latest").write_text("v9\n")
    with pytest.raises(ArtifactError, match="points at 'v9'"):
        resolve(tmp_path)


def test_broken_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"format": 1}')
    with pytest.raises(ArtifactError, match="not a valid manifest"):
        ClassifierHead.load(tmp_path, "fake-embedder", 16)


def test_the_head_is_plain_arrays_never_a_pickle(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    folder = trained.save(tmp_path, "intents")
    with np.load(folder / "head.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) == {"coef", "intercept", "classes"}
        assert arrays["classes"].dtype.kind == "U"


def test_a_pickled_head_is_refused_unread(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    folder = trained.save(tmp_path, "intents")
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format": 1}))
    marker = tmp_path / "ran"
    (folder / "model.joblib").write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(ArtifactError, match=r"pickle.*ragway finetune --route intents"):
        ClassifierHead.load(folder, "fake-embedder", 16)
    assert not marker.exists()


def test_an_npz_holding_objects_is_refused(tmp_path: Path, trained) -> None:  # type: ignore[no-untyped-def]
    folder = trained.save(tmp_path, "intents")
    with (folder / "head.npz").open("wb") as handle:
        np.savez(handle, coef=np.array([object()]), intercept=np.zeros(4), classes=np.array(["a"]))
    manifest = json.loads((folder / "manifest.json").read_text())
    digest = hashlib.sha256((folder / "head.npz").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps({**manifest, "model_sha256": digest}))
    with pytest.raises(ArtifactError, match="not a head's arrays"):
        ClassifierHead.load(folder, "fake-embedder", 16)
