"""A fake embedder for unit tests: texts "<label> <n>" land near their label's centre."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np


class FakeEmbedder:
    """Deterministic vectors: the label word picks a centre, the whole text seeds the noise."""

    def __init__(self, model_id: str = "fake-embedder", dim: int = 16, noise: float = 0.6) -> None:
        self.model_id = model_id
        self.dim = dim
        self.noise = noise

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return np.vstack([self._vector(text) for text in texts]).astype(np.float32)

    def _vector(self, text: str) -> np.ndarray:
        label = text.split()[0]
        centre = np.random.default_rng(zlib.crc32(label.encode())).normal(size=self.dim)
        noise = np.random.default_rng(zlib.crc32(text.encode())).normal(size=self.dim) * self.noise
        vector = centre + noise * np.linalg.norm(centre) / np.sqrt(self.dim)
        return vector / np.linalg.norm(vector)


def fake_dataset(classes: int = 4, per_class: int = 50) -> tuple[list[str], list[str]]:
    labels = [f"intent{c}" for c in range(classes) for _ in range(per_class)]
    texts = [f"{label} {i}" for i, label in enumerate(labels)]
    return texts, labels
