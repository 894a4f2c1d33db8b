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
    from tokenizers import Encoding, Tokenizer

EXPORT_VERSION = "3"  # part of the cache key: bump it when onnx_export.py writes another graph
DEFAULT_MAX_TOKENS = 512
# most texts in one pass: passes of 32 same-length banking77 texts cost ~7% less CPU per text than 16
MAX_BATCH = 32
# the fixed price of a pass in tokens: 1.2 ms here, the weights streamed once, against 0.067 ms per token
PASS_TOKENS = 18
# texts tokenised at once, so a large index build never holds every encoding in memory
TOKENIZE_CHUNK = 4096
# the graph's inputs: onnx_export names them so, and a pass feeds them by these names
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# graph rewrites left out: ORT's CPU SkipLayerNormalization kernel took 445 us a layer on a banking77
# pass of 8 texts where the Add and LayerNormalization it replaces take about 75 us, and leaving the
# fusion out cut the CPU per text by 10-12% in passes of 16-32 texts (onnxruntime 1.32, this host)
SLOW_FUSIONS = ("SkipLayerNormFusion",)


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
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"],
                                             disabled_optimizers=list(SLOW_FUSIONS))
        self._inputs = [node.name for node in self._session.get_inputs()]
        self.dim: int = int(self._session.get_outputs()[0].shape[-1])
        self._tokenizer = _tokenizer(folder)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed *texts* in passes of similar length; an empty sequence gives an empty (0, dim) array."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        size = max(1, min(batch_size, MAX_BATCH))
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            chunk = list(texts[start : start + TOKENIZE_CHUNK])
            encoded = self._tokenizer.encode_batch(chunk)
            lengths = np.array([len(e.ids) for e in encoded])
            order = np.argsort(lengths, kind="stable")
            for rows in passes(lengths[order].tolist(), size):
                picked = order[rows]
                out[start + picked] = self._forward([encoded[i] for i in picked])
        return out

    def _forward(self, encoded: list[Encoding]) -> np.ndarray:
        """One pass over tokenised texts, right-padded to the longest of them."""
        width = max(len(e.ids) for e in encoded)
        # pad ids stay 0: the attention mask hides padded positions, so their ids change nothing
        feeds = {name: np.zeros((len(encoded), width), dtype=np.int64) for name in INPUT_NAMES}
        for row, e in enumerate(encoded):
            n = len(e.ids)
            feeds["input_ids"][row, :n] = e.ids
            feeds["attention_mask"][row, :n] = 1
            feeds["token_type_ids"][row, :n] = e.type_ids
        vectors = self._session.run(None, {name: feeds[name] for name in self._inputs})[0]
        return np.asarray(vectors, dtype=np.float32)


def passes(lengths: Sequence[int], most: int) -> list[slice]:
    """Cut token *lengths* (sorted ascending) into forward passes of at most *most* texts, cheapest in all.

    A pass costs about PASS_TOKENS plus its texts times its longest text (padding included): a pass has
    a fixed price, streaming every weight once, and padding costs as much as real tokens. Dynamic
    programming over the cut points finds the partition of least total cost.
    """
    best = [0.0] + [float("inf")] * len(lengths)
    cut = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        for begin in range(max(0, end - most), end):
            cost = best[begin] + PASS_TOKENS + (end - begin) * lengths[end - 1]
            if cost < best[end]:
                best[end], cut[end] = cost, begin
    out: list[slice] = []
    end = len(lengths)
    while end > 0:
        out.append(slice(cut[end], end))
        end = cut[end]
    return out[::-1]


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
    """The model's fast tokenizer, truncating at the model's max length; passes pad with id 0 themselves."""
    tokenizer = fast_tokenizer(str(folder))
    tokenizer.enable_truncation(_max_tokens(folder))
    tokenizer.no_padding()
    return tokenizer


def _max_tokens(folder: Path) -> int:
    """sentence-transformers' max_seq_length for the model, else its tokenizer's limit."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
        path = folder / name
        value = json.loads(path.read_text(encoding="utf-8")).get(key) if path.is_file() else None
        if isinstance(value, int) and 0 < value <= 100_000:
            return value
    return DEFAULT_MAX_TOKENS


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
