"""Typed fakes for retrieval unit tests."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Sequence

import numpy as np


class FakeEmbedder:
    """Hashed bag of words: texts sharing words get similar vectors. Records every encode call."""

    def __init__(self, dim: int = 64, model_id: str = "fake-embedder", delay_s: float = 0.0) -> None:
        self.model_id = model_id
        self.dim = dim
        self.delay_s = delay_s
        self.calls: list[list[str]] = []
        self.batch_sizes: list[int] = []
        self.fail_next = False
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        with self._lock:
            self.calls.append(list(texts))
            self.batch_sizes.append(batch_size)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("fake encode failure")
        return np.stack([self.vector(text) for text in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()) or [""]:
            slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
            vector[slot % self.dim] += 1.0 if slot & (1 << 31) else -1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector
