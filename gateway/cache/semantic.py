"""The in-process semantic index: request vectors of cached answers, searched by cosine similarity.

Vectors are L2-normalised, so cosine similarity is a dot product. One matrix per scope (route,
versions, parameters and earlier turns, see key.semantic_scope) keeps each search to the entries
that may answer it; a matrix product over at most `max_entries` rows needs no ANN index.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gateway.cache.contrast import Signature, signature


@dataclass(frozen=True)
class SemanticEntry:
    """A cached answer's request vector; `key` names the exact entry holding the answer.

    `answer` is a digest of the answer (entries with equal digests say the same thing) and `text` the
    question's last message, which the contrast guard reads; both are empty in records from before them.
    """

    scope: str
    key: str
    vector: np.ndarray
    expires_at: float
    answer: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class Neighbour:
    key: str
    score: float
    answer: str
    signature: Signature


class _Partition:
    """The vectors of one scope in a growable matrix; removal moves the last row into the hole."""

    def __init__(self, dim: int) -> None:
        self.matrix = np.zeros((8, dim), dtype=np.float32)
        self.expires = np.zeros(8, dtype=np.float64)
        self.keys: list[str] = []
        self.row_of: dict[str, int] = {}
        self.answers: list[str] = []
        self.signatures: list[Signature] = []

    def put(self, entry: SemanticEntry, vector: np.ndarray) -> None:
        row = self.row_of.get(entry.key)
        if row is None:
            row = len(self.keys)
            self._reserve(row + 1)
            self.keys.append(entry.key)
            self.answers.append(entry.answer)
            self.signatures.append(signature(entry.text))
            self.row_of[entry.key] = row
        else:
            self.answers[row], self.signatures[row] = entry.answer, signature(entry.text)
        self.matrix[row] = vector
        self.expires[row] = entry.expires_at

    def remove(self, key: str) -> None:
        row = self.row_of.pop(key)
        last = len(self.keys) - 1
        if row != last:
            moved = self.keys[last]
            self.matrix[row] = self.matrix[last]
            self.expires[row] = self.expires[last]
            self.keys[row] = moved
            self.answers[row] = self.answers[last]
            self.signatures[row] = self.signatures[last]
            self.row_of[moved] = row
        self.keys.pop()
        self.answers.pop()
        self.signatures.pop()

    def expired(self, now: float) -> list[str]:
        rows = np.nonzero(self.expires[: len(self.keys)] <= now)[0]
        return [self.keys[row] for row in rows]

    def best(self, vector: np.ndarray, k: int) -> list[Neighbour]:
        scores = self.matrix[: len(self.keys)] @ vector
        if k >= len(scores):
            rows = np.argsort(-scores)
        else:
            top = np.argpartition(-scores, k - 1)[:k]
            rows = top[np.argsort(-scores[top])]
        return [Neighbour(self.keys[r], float(scores[r]), self.answers[r], self.signatures[r]) for r in rows]

    def _reserve(self, rows: int) -> None:
        if rows <= len(self.matrix):
            return
        size = max(rows, 2 * len(self.matrix))
        matrix = np.zeros((size, self.matrix.shape[1]), dtype=np.float32)
        matrix[: len(self.matrix)] = self.matrix
        expires = np.zeros(size, dtype=np.float64)
        expires[: len(self.expires)] = self.expires
        self.matrix, self.expires = matrix, expires


class SemanticIndex:
    """Nearest cached request per scope, at most `max_entries` in all, expired entries never returned."""

    def __init__(self, dim: int, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self.dim = dim
        self._max_entries = max_entries
        self._clock = clock
        self._partitions: dict[str, _Partition] = {}
        self._scope_of: OrderedDict[str, str] = OrderedDict()

    def add(self, entry: SemanticEntry) -> None:
        if entry.vector.shape != (self.dim,):
            raise ValueError(f"semantic cache vector has shape {entry.vector.shape}, expected ({self.dim},)")
        if entry.expires_at <= self._clock():
            return
        if self._scope_of.get(entry.key, entry.scope) != entry.scope:
            self.discard(entry.key)
        partition = self._partitions.setdefault(entry.scope, _Partition(self.dim))
        partition.put(entry, entry.vector.astype(np.float32, copy=False))
        self._scope_of[entry.key] = entry.scope
        self._scope_of.move_to_end(entry.key)
        while len(self._scope_of) > self._max_entries:
            self.discard(next(iter(self._scope_of)))

    def nearest(self, scope: str, vector: np.ndarray) -> tuple[str, float] | None:
        """The key and similarity of the closest live entry in *scope*, or None when it has none."""
        found = self.neighbours(scope, vector, 1)
        return (found[0].key, found[0].score) if found else None

    def neighbours(self, scope: str, vector: np.ndarray, k: int) -> list[Neighbour]:
        """The *k* closest live entries in *scope*, closest first; the closest counts as used (LRU)."""
        partition = self._partitions.get(scope)
        if partition is None:
            return []
        for key in partition.expired(self._clock()):
            self.discard(key)
        if not partition.keys:
            return []
        found = partition.best(vector, k)
        self._scope_of.move_to_end(found[0].key)
        return found

    def discard(self, key: str) -> None:
        scope = self._scope_of.pop(key, None)
        if scope is None:
            return
        partition = self._partitions[scope]
        partition.remove(key)
        if not partition.keys:
            del self._partitions[scope]

    def __len__(self) -> int:
        return len(self._scope_of)
