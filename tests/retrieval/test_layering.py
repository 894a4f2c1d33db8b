"""retrieval/ stands alone: it never imports the gateway package."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_retrieval_never_imports_gateway(repo_root: Path) -> None:
    sources = sorted((repo_root / "retrieval").glob("*.py"))
    assert len(sources) > 5
    offenders = {
        path.name: sorted(m for m in imported_modules(path) if m.split(".")[0] == "gateway") for path in sources
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}
