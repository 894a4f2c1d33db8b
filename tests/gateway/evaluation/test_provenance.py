"""Provenance: the versions an eval ran on, read from the manifests beside the artifacts."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.config.snapshot import load_snapshot
from gateway.evaluation.provenance import classifier_version, collect
from tests.gateway.evaluation.fakes import write_config


def write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")


def test_versions_come_from_the_index_and_artifact_manifests(tmp_path: Path) -> None:
    snapshot = load_snapshot(write_config(tmp_path))
    write_json(tmp_path / "indexes" / "banking77-examples" / "manifest.json", {"checksum": "0123456789abcdef" * 4})
    artifact = {"version": "v3", "model_sha256": "f" * 64}
    write_json(tmp_path / "artifacts" / "banking77" / "v3" / "manifest.json", artifact)
    (tmp_path / "artifacts" / "banking77" / "latest").write_text("v3\n", encoding="utf-8")
    route = snapshot.routes["banking77"]

    got = collect(snapshot, route, tmp_path / "gold.csv", "c" * 64)

    assert got.route_version == route.version
    assert got.index_versions == {"banking77-examples": "0123456789ab"}
    assert got.model_versions == {"large": "openai/smollm2@http://127.0.0.1:8081/v1", "small": "v3:ffffffffffff"}
    assert (got.dataset, got.dataset_checksum) == (str(tmp_path / "gold.csv"), "c" * 64)


def test_missing_artifacts_are_named_missing(tmp_path: Path) -> None:
    snapshot = load_snapshot(write_config(tmp_path))

    got = collect(snapshot, snapshot.routes["banking77"], tmp_path / "gold.csv", "")

    assert got.index_versions == {"banking77-examples": "missing"}
    assert got.model_versions["small"] == "missing"
    assert classifier_version(tmp_path / "nowhere") == "missing"
