"""Every top-level module of gateway/ sits in a layer of the import-linter contract, so none escapes it."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import gateway


def layered_modules(pyproject: Path) -> set[str]:
    contracts = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    return {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}


def test_every_gateway_module_is_in_a_layer(repo_root: Path) -> None:
    modules = {f"gateway.{m.name}" for m in pkgutil.iter_modules(gateway.__path__) if m.name != "__main__"}
    assert len(modules) > 10
    layered = layered_modules(repo_root / "pyproject.toml")
    assert sorted(modules - layered) == [], "add these modules to a layer in pyproject.toml's import-linter contract"
    assert sorted(layered - modules) == [], "these layers name modules that do not exist"

