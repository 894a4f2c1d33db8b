"""The FAISS structure behind an index: exact inner product when small, HNSW when large.

Vectors are L2-normalised, so inner product is cosine similarity. HNSW trades a little
recall for speed; the recall it reaches against exact search is measured when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import faiss
import numpy as np

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128
RECALL_K = 10
RECALL_QUERIES = 200
# Noise of this norm is added to sampled rows to make recall queries that are near, not equal, to data.
RECALL_NOISE = 0.5


@dataclass(frozen=True)
class Recall:
    k: int
    recall: float


def build_ann(vectors: np.ndarray, hnsw_threshold: int) -> faiss.Index:
    """An exact index for up to *hnsw_threshold* rows, HNSW above it, holding *vectors*."""
    dim = vectors.shape[1]
    if len(vectors) <= hnsw_threshold:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        hnsw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        index = hnsw
    index.add(vectors)
    return index


def index_type(index: faiss.Index) -> Literal["flat", "hnsw"]:
    return "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"


def all_vectors(index: faiss.Index) -> np.ndarray:
    """Every stored vector, in row order (flat and HNSW-flat keep them exactly)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)


def measure_recall(index: faiss.Index, vectors: np.ndarray, k: int = RECALL_K) -> Recall:
    """recall@k of *index* against exact search over *vectors*, on noisy copies of sampled rows."""
    if index_type(index) == "flat" or len(vectors) == 0:
        return Recall(k=k, recall=1.0)
    queries = _recall_queries(vectors)
    k = min(k, len(vectors))
    exact_index = faiss.IndexFlatIP(vectors.shape[1])
    exact_index.add(vectors)
    _, exact = exact_index.search(queries, k)
    _, approx = index.search(queries, k)
    found = sum(len(set(e) & set(a)) for e, a in zip(exact.tolist(), approx.tolist(), strict=True))
    return Recall(k=k, recall=round(found / (k * len(queries)), 4))


def _recall_queries(vectors: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(len(vectors), size=min(RECALL_QUERIES, len(vectors)), replace=False)]
    noise = rng.standard_normal(sample.shape).astype(np.float32)
    noise *= RECALL_NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
    queries = sample + noise
    return np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), dtype=np.float32)
