"""What the small model needs from an embedder: the gateway's own, so training and serving share vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Satisfied by retrieval.embedder.SentenceEmbedder: normalised float32 rows, one per text."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray: ...
