"""Policies inside a route file: validated by kind, their targets checked against the route's."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_snapshot
from gateway.config.policy import CascadePolicy, SplitPolicy
from gateway.errors import ConfigError

GATEWAY = "models:\n  big:\n    model: openai/gpt-4o-mini\n"
TARGETS = "targets:\n  small:\n    classifier: banking77\n  large:\n    model: big\n"


def config_dir(tmp_path: Path, policy: str) -> Path:
    (tmp_path / "routes").mkdir()
    (tmp_path / "gateway.yaml").write_text(GATEWAY)
    (tmp_path / "routes" / "r.yaml").write_text(f"task: classification\n{TARGETS}policy:\n{policy}")
    return tmp_path


def test_cascade_route_loads(tmp_path: Path) -> None:
    snapshot = load_snapshot(config_dir(tmp_path, "  kind: cascade\n  small: small\n  large: large\n"))
    loaded = snapshot.routes["r"].config.policy
    assert isinstance(loaded, CascadePolicy)
    assert loaded.min_confidence == "auto"


def test_split_route_loads(tmp_path: Path) -> None:
    text = "  kind: split\n  weights:\n    small: 10\n    large: 90\n"
    loaded = load_snapshot(config_dir(tmp_path, text)).routes["r"].config.policy
    assert isinstance(loaded, SplitPolicy)
    assert loaded.target_names() == ["small", "large"]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("  kind: fallback\n  targets: [large, missing]\n", "target 'missing' is not among targets"),
        ("  kind: retrieval\n  small: small\n  large: nope\n", "target 'nope' is not among targets"),
        ("  kind: cascade\n  small: small\n  large: large\n  threshold: 0.5\n", "policy.cascade.threshold"),
        ("  kind: cascade\n  small: small\n  large: large\n  min_confidence: 1.5\n", "min_confidence"),
    ],
)
def test_bad_policy_is_refused_naming_the_key(tmp_path: Path, policy: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_snapshot(config_dir(tmp_path, policy))
