"""Retrieval fixtures: the real embedder and the banking77 example index, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.build import build_examples_index
from retrieval.embedder import SentenceEmbedder
from retrieval.errors import RetrievalError
from retrieval.index import VectorIndex


@pytest.fixture(scope="session")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


@pytest.fixture(scope="session")
def banking77_index(
    embedder: SentenceEmbedder, banking77_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> VectorIndex:
    """Every banking77 training example: the demo index `make test` builds, else embedded once here."""
    demo = Path(__file__).resolve().parents[2] / "indexes" / "banking77-examples"
    try:
        return VectorIndex.load(demo, embedder.model_id, embedder.dim)
    except RetrievalError:
        pass
    indexes = tmp_path_factory.mktemp("indexes")
    build_examples_index("banking77-examples", banking77_dir / "train.csv", embedder, indexes)
    return VectorIndex.load(indexes / "banking77-examples", embedder.model_id, embedder.dim)


@pytest.fixture
def docs_dir(repo_root: Path) -> Path:
    return repo_root / "configs" / "docs" / "bank"
