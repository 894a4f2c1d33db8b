"""Synthetic rows for the million-row index, made around real banking77 embeddings.

Embedding a million texts with the model would take over an hour on two cores, so the rows are
made in vector space instead: each is a real training question's vector, pulled part of the way
towards another question's and jittered, then normalised. The rows keep the shape of sentence
embeddings (they lie near the span of real ones, in topic clusters) rather than filling the sphere
uniformly, which no text embedding does. Each row's text is its source question with a row number,
and its label the source question's label.

Run as a child process by bench/bench_ann.py, so its peak RSS is the build's alone:

    python -m bench.ann_data --base BASE.npz --rows 1000000 --indexes-dir DIR --name NAME
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from retrieval.build import DEFAULT_ANN_THRESHOLD, write_index
from retrieval.payload import Row

# How far a row moves towards its second question, and the norm of its jitter.
MIX_MAX = 0.35
JITTER = 0.15
CHUNK = 100_000


class Base:
    """Real rows to build around: their vectors, texts and labels (an .npz written by bench_ann)."""

    def __init__(self, vectors: np.ndarray, texts: Sequence[str], labels: Sequence[str], embedder_id: str) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.texts = list(texts)
        self.labels = list(labels)
        self.embedder_id = embedder_id

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, vectors=self.vectors, texts=np.array(self.texts), labels=np.array(self.labels),
                 embedder_id=np.array(self.embedder_id))

    @classmethod
    def load(cls, path: Path) -> Base:
        data = np.load(path)
        return cls(data["vectors"], data["texts"].tolist(), data["labels"].tolist(), str(data["embedder_id"]))


def synthetic(base: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """*n* unit vectors around the rows of *base*, and the base row each one came from."""
    rng = np.random.default_rng(seed)
    dim = base.shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    sources = rng.integers(0, len(base), n)
    for start in range(0, n, CHUNK):
        src = sources[start : start + CHUNK]
        other = base[rng.integers(0, len(base), len(src))]
        mix = rng.uniform(0.0, MIX_MAX, (len(src), 1)).astype(np.float32)
        jitter = rng.standard_normal((len(src), dim)).astype(np.float32) * (JITTER / np.sqrt(dim))
        block = (1 - mix) * base[src] + mix * other + jitter
        out[start : start + len(src)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out, sources


class _Stub:
    """write_index reads only the embedder's id and dimension: the rows are not embedded here."""

    def __init__(self, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        raise NotImplementedError("rows of the synthetic index come as vectors")


def build(base: Base, rows: int, indexes_dir: Path, name: str, threshold: int) -> dict:
    """Make the rows, then write the index with the code `ragway index build` runs after embedding."""
    started = time.perf_counter()
    vectors, sources = synthetic(base.vectors, rows)
    payload = [Row(input=f"{base.texts[s]} #{n}", output=base.labels[s], source="synthetic", position=n)
               for n, s in enumerate(sources.tolist())]
    made = time.perf_counter()
    rss_made = _peak_rss_mib()
    write_index(indexes_dir, name, "examples", _Stub(base.embedder_id, vectors.shape[1]), vectors,
                payload, ["synthetic"], threshold)
    built = time.perf_counter()
    return {
        "rows": rows,
        "generate_s": round(made - started, 1),
        "build_s": round(built - made, 1),
        "peak_rss_before_build_mib": rss_made,
        "peak_rss_mib": _peak_rss_mib(),
        "faiss_threads": faiss.omp_get_max_threads(),
        "index_bytes": (indexes_dir / name / "index.faiss").stat().st_size,
        "rows_bytes": (indexes_dir / name / "rows.jsonl").stat().st_size,
        "manifest": json.loads((indexes_dir / name / "manifest.json").read_text()),
    }


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ann_data", description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--indexes-dir", type=Path, required=True)
    parser.add_argument("--name", default="synthetic-1m")
    parser.add_argument("--ann-threshold", type=int, default=DEFAULT_ANN_THRESHOLD)
    args = parser.parse_args(argv)
    report = build(Base.load(args.base), args.rows, args.indexes_dir, args.name, args.ann_threshold)
    print("BENCH_JSON " + json.dumps(report))


if __name__ == "__main__":
    main()
