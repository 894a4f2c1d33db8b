"""Reuse the vectors a route's example index already stores instead of embedding the rows again.

A vector depends only on the text and the embedder, so a training row whose text the index
holds (built by the same embedder) takes the stored vector; the rest are embedded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.smallmodel.embedder import Embedder
from retrieval.errors import RetrievalError
from retrieval.index import VectorIndex
from retrieval.manifest import read_manifest

EMBED_CHUNK = 256


@dataclass(frozen=True)
class ReusedVectors:
    vectors: np.ndarray
    reused: int
    embedded: int
    source: str


def vectors_for(
    texts: Sequence[str], embedder: Embedder, index_folder: Path | None, progress: object = None
) -> ReusedVectors:
    """Embeddings of *texts*, taken from the index in *index_folder* where it holds the same text.

    An index that is missing, unreadable or built by another embedder is not used (everything is embedded).
    """
    stored, source = _stored(index_folder, embedder)
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    missing = []
    for row, text in enumerate(texts):
        vector = stored.get(text)
        if vector is None:
            missing.append(row)
        else:
            out[row] = vector
    report = progress if callable(progress) else None
    for start in range(0, len(missing), EMBED_CHUNK):
        rows = missing[start : start + EMBED_CHUNK]
        out[rows] = embedder.encode([texts[i] for i in rows])
        if report is not None:
            report("embedding", min(start + EMBED_CHUNK, len(missing)), len(missing))
    return ReusedVectors(out, len(texts) - len(missing), len(missing), source)


def _stored(folder: Path | None, embedder: Embedder) -> tuple[dict[str, np.ndarray], str]:
    if folder is None:
        return {}, ""
    try:
        index = VectorIndex.load(folder, embedder.model_id, embedder.dim)
    except (RetrievalError, OSError):
        return {}, ""
    vectors = index.stored_vectors()
    return {row.input: vectors[i] for i, row in enumerate(index.rows)}, f"index {index.name}@{index.version}"


def stored_vectors(texts: Sequence[str], embedder_id: str, index_folder: Path | None) -> np.ndarray | None:
    """The index's vectors for *texts* when it holds every one of them (built by *embedder_id*), else None.

    Used without loading the embedder: the index's manifest says which embedder built it.
    """
    if index_folder is None:
        return None
    try:
        manifest = read_manifest(index_folder)
        index = VectorIndex.load(index_folder, embedder_id, manifest.dim)
    except (RetrievalError, OSError):
        return None
    vectors = index.stored_vectors()
    row_of = {row.input: i for i, row in enumerate(index.rows)}
    if any(text not in row_of for text in texts):
        return None
    return vectors[[row_of[text] for text in texts]]
