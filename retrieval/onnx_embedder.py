"""Sentence embeddings with ONNX Runtime: the same model as the torch backend, int8 weights, no torch at serving.

The graph is exported from the model folder on first use (retrieval/onnx_export.py) into a cache
folder keyed by the model's files, under a file lock so workers starting together export once;
every later start loads the file. Serving then needs only the model's tokenizer and ONNX Runtime.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retrieval.embedder import embedder_id, resolve_model
from retrieval.tokens import fast_tokenizer

if TYPE_CHECKING:
    from tokenizers import Tokenizer

EXPORT_VERSION = "1"  # part of the cache key: bump it when onnx_export.py writes another graph
DEFAULT_MAX_TOKENS = 512
MAX_BATCH = 16


class OnnxEmbedder:
    """Encodes texts to L2-normalised float32 vectors of shape (n, dim), like SentenceEmbedder."""

    def __init__(self, model: str, cache_dir: Path, threads: int | None = None, quantize: bool = True) -> None:
        import onnxruntime as ort

        folder = Path(resolve_model(model))
        if not folder.is_dir():
            raise FileNotFoundError(f"embedder '{model}': the onnx backend exports from a local model folder "
                                    f"(a path or package:NAME), not {folder}")
        self.model_id: str = embedder_id(model)
        self.path = cached_graph(folder, model, Path(cache_dir), quantize)
        self.precision: str = "int8" if quantize else "float32"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle pool threads sleep instead of spinning: the cores are shared with the event loop and FAISS
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self._inputs = [node.name for node in self._session.get_inputs()]
        self.dim: int = int(self._session.get_outputs()[0].shape[-1])
        self._tokenizer = _tokenizer(folder)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed *texts* in batches of similar length; an empty sequence gives an empty (0, dim) array."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # like sentence-transformers: sorted by length, so each batch pads only to its own longest text
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        # int8 passes over 64 banking77 texts took twice the CPU per text of passes over 8 or 16
        size = max(1, min(batch_size, MAX_BATCH))
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            out[rows] = self._forward([texts[i] for i in rows])
        return out

    def _forward(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        feeds = {
            "input_ids": ids,
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        vectors = self._session.run(None, {name: feeds[name] for name in self._inputs})[0]
        return np.asarray(vectors, dtype=np.float32)


def cached_graph(folder: Path, model: str, cache_dir: Path, quantize: bool) -> Path:
    """The ONNX file of the model in *folder* under *cache_dir*, exported first when it is not there yet."""
    target = cache_dir / f"{_slug(model)}-{_fingerprint(folder)}" / ("model_int8.onnx" if quantize else "model.onnx")
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / ".export.lock"):
        if not target.is_file():  # another process may have exported it while this one waited for the lock
            from retrieval.onnx_export import export  # torch loads only to export

            export(folder, model, target, quantize)
    return target


def _tokenizer(folder: Path) -> Tokenizer:
    """The model's fast tokenizer, truncating at the model's max length and padding to the longest text."""
    tokenizer = fast_tokenizer(str(folder))
    tokenizer.enable_truncation(_max_tokens(folder))
    pad = _pad_token(folder)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id(pad) or 0, pad_token=pad)
    return tokenizer


def _max_tokens(folder: Path) -> int:
    """sentence-transformers' max_seq_length for the model, else its tokenizer's limit."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
        path = folder / name
        value = json.loads(path.read_text(encoding="utf-8")).get(key) if path.is_file() else None
        if isinstance(value, int) and 0 < value <= 100_000:
            return value
    return DEFAULT_MAX_TOKENS


def _pad_token(folder: Path) -> str:
    path = folder / "special_tokens_map.json"
    token = json.loads(path.read_text(encoding="utf-8")).get("pad_token") if path.is_file() else None
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) else "[PAD]"


def _fingerprint(folder: Path) -> str:
    """Changes when the model's files do (another release of its package), so a stale export is not reused."""
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.relative_to(folder)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:12]


def _slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-") or "model"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
