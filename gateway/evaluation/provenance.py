"""What an eval ran on: route version, index versions, model versions and dataset checksum.

Stored with every eval so a regression can be traced to the change that caused it. Versions are
read from the manifests the index builder and `ragway finetune` write beside their artifacts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config.route import ClassifierTarget, RouteConfig, UnknownAnswer
from gateway.config.snapshot import ConfigSnapshot, Route

MANIFEST = "manifest.json"
MISSING = "missing"


@dataclass(frozen=True)
class Provenance:
    route: str
    route_version: str
    index_versions: dict[str, str]
    model_versions: dict[str, str]
    dataset: str
    dataset_checksum: str


def collect(snapshot: ConfigSnapshot, route: Route, dataset: Path, dataset_checksum: str) -> Provenance:
    """The versions of everything *route* uses, as the config directory has them now."""
    return Provenance(
        route=route.name,
        route_version=route.version,
        index_versions=index_versions(snapshot, route.config),
        model_versions=model_versions(snapshot, route.config),
        dataset=str(dataset),
        dataset_checksum=dataset_checksum,
    )


def index_versions(snapshot: ConfigSnapshot, config: RouteConfig) -> dict[str, str]:
    """index name -> the first 12 hex digits of its manifest checksum (`missing` when not built)."""
    uses = (config.retrieval.examples, config.retrieval.documents)
    versions = {}
    for use in uses:
        if use is not None:
            manifest = read_json(snapshot.indexes_dir / use.index / MANIFEST)
            versions[use.index] = str(manifest.get("checksum", MISSING))[:12]
    return versions


def model_versions(snapshot: ConfigSnapshot, config: RouteConfig) -> dict[str, str]:
    """target name -> the litellm model string (and api_base), or the classifier artifact's version."""
    versions = {}
    for name, target in config.targets.items():
        if isinstance(target, ClassifierTarget):
            versions[name] = classifier_version(snapshot.resolve(target.classifier))
        else:
            versions[name] = _model_version(snapshot, target.model)
    return versions


def _model_version(snapshot: ConfigSnapshot, name: str) -> str:
    model = snapshot.gateway.models.get(name)
    if model is None:
        return name
    return f"{model.model}@{model.api_base}" if model.api_base else model.model


def classifier_version(folder: Path) -> str:
    """`v3:1a2b3c4d5e6f` (version and model file hash) for an artifact folder or its `latest` pointer."""
    manifest = _classifier_manifest(folder)
    if not manifest:
        return MISSING
    return f"{manifest.get('version', '?')}:{str(manifest.get('model_sha256', ''))[:12]}"


def route_labels(snapshot: ConfigSnapshot, config: RouteConfig) -> list[str]:
    """The label set the route serves: its `labels`, else its classifier's and its `unknown` answer (what the
    cascade checks answers against); [] when it names neither. An answer outside it is off-label, even when
    the gold sample holds no row of that label."""
    if config.labels:
        return list(config.labels)
    for target in config.targets.values():
        if isinstance(target, ClassifierTarget):
            labels = _classifier_manifest(snapshot.resolve(target.classifier)).get("labels")
            if isinstance(labels, list) and labels:
                unknown = [config.unknown.answer] if isinstance(config.unknown, UnknownAnswer) else []
                return [str(label) for label in labels] + unknown
    return []


def _classifier_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an artifact folder or of the version its `latest` pointer names; {} when missing."""
    pointer = folder / "latest"
    if not (folder / MANIFEST).is_file() and pointer.is_file():
        folder = folder / pointer.read_text(encoding="utf-8").strip()
    return read_json(folder / MANIFEST)


def examples_count(snapshot: ConfigSnapshot, config: RouteConfig) -> int | None:
    """Rows in the route's example index, from its manifest; None when the route has none built."""
    if config.retrieval.examples is None:
        return None
    rows = read_json(snapshot.indexes_dir / config.retrieval.examples.index / MANIFEST).get("rows")
    return int(rows) if isinstance(rows, int) else None


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
