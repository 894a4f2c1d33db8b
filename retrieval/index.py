"""A built index loaded for search: the FAISS structure, its payload rows and its manifest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from retrieval.ann import all_vectors, apply_shape
from retrieval.errors import IndexCorrupt, IndexMismatch
from retrieval.manifest import FAISS_FILE, ROWS_FILE, Manifest, read_manifest, verify
from retrieval.payload import Row, RowFile
from retrieval.types import Hit


class VectorIndex:
    """Nearest rows by cosine similarity (inner product over normalised vectors)."""

    def __init__(self, manifest: Manifest, ann: faiss.Index, rows: Sequence[Row], path: Path) -> None:
        if ann.ntotal != len(rows) or ann.d != manifest.dim:
            raise IndexCorrupt(
                f"index '{manifest.name}': {ann.ntotal} vectors of dim {ann.d} but {len(rows)} rows "
                f"and dim {manifest.dim} in the manifest"
            )
        self.manifest = manifest
        self.path = path
        self._ann = ann
        self._rows = rows

    @classmethod
    def load(cls, path: Path, embedder_id: str, dim: int, verify_checksum: bool = True) -> VectorIndex:
        """Load the index in folder *path*, refusing one built with another embedder or dimension."""
        path = Path(path)
        manifest = read_manifest(path)
        if manifest.embedder_id != embedder_id or manifest.dim != dim:
            raise IndexMismatch(
                f"index '{manifest.name}' was built with embedder '{manifest.embedder_id}' (dim {manifest.dim}) "
                f"but the gateway embeds with '{embedder_id}' (dim {dim}); rebuild it with `index build`"
            )
        if verify_checksum:
            verify(path, manifest)
        try:
            ann = faiss.read_index(str(path / FAISS_FILE))
        except RuntimeError as exc:
            raise IndexCorrupt(f"index '{manifest.name}': unreadable {path / FAISS_FILE}") from exc
        apply_shape(ann, manifest.ann)
        return cls(manifest, ann, RowFile.read(path / ROWS_FILE), path)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> Sequence[Row]:
        """The payload rows, row i for vector i."""
        return self._rows

    def stored_vectors(self) -> np.ndarray:
        """Every stored vector in row order, shape (len(self), dim): what was embedded when it was built."""
        return all_vectors(self._ann)

    def search(self, vector: np.ndarray, k: int, min_score: float = -1.0) -> list[Hit]:
        """The *k* nearest rows to one vector of shape (dim,), best first, scores >= *min_score*."""
        return self.search_many(np.asarray(vector).reshape(1, -1), k, min_score)[0]

    def search_many(self, vectors: np.ndarray, k: int, min_score: float = -1.0) -> list[list[Hit]]:
        """search() for each row of *vectors* (shape (n, dim)) in one FAISS call."""
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.manifest.dim:
            raise ValueError(f"index '{self.name}' expects vectors of dim {self.manifest.dim}, got {queries.shape}")
        if k < 1 or len(self._rows) == 0:
            return [[] for _ in queries]
        scores, rows = self._ann.search(queries, min(k, len(self._rows)))
        return [self._hits(s, r, min_score) for s, r in zip(scores, rows, strict=True)]

    def vectors(self, hits: list[Hit]) -> np.ndarray:
        """The stored vectors of *hits* (e.g. for MMR), shape (len(hits), dim)."""
        if not hits:
            return np.zeros((0, self.manifest.dim), dtype=np.float32)
        return np.stack([self._ann.reconstruct(hit.row) for hit in hits])

    def _hits(self, scores: np.ndarray, rows: np.ndarray, min_score: float) -> list[Hit]:
        return [
            self._hit(int(row), float(score))
            for score, row in zip(scores, rows, strict=True)
            if row >= 0 and score >= min_score
        ]

    def _hit(self, number: int, score: float) -> Hit:
        row = self._rows[number]
        return Hit(
            index=self.name,
            id=f"{self.name}:{number}",
            score=score,
            text=row.input,
            output=row.output,
            source=row.source,
            position=row.position,
        )
