"""The shapes retrieval passes around: a search hit, and what an embedder must offer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors of shape (n, dim)."""

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved row. `id` is "<index>:<row>", stable while the index version is."""

    index: str
    id: str
    score: float
    text: str
    output: str | None = None
    source: str | None = None
    position: int | None = None

    @property
    def row(self) -> int:
        """The row number inside its index (the part of `id` after the last colon)."""
        return int(self.id.rsplit(":", 1)[1])
