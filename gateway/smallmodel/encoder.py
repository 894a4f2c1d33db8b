"""Encoder fine-tuning: the embedder's own weights tuned on a route's labelled rows, on CPU.

A cosine-softmax classifier (class weight vectors, scaled cosine logits) sits on the
sentence embedding during training and is thrown away after: the served small model is the
tuned encoder with an ordinary calibrated head fitted on its embeddings (train.train).
Cosine logits keep the embeddings normalised, as the gateway's index and head expect them.

Torch and sentence-transformers are imported here only; training is plain torch (no
`datasets`/`accelerate`), so it needs nothing the gateway does not already install.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Progress = Callable[[str, int, int], None]
BUCKET = 50  # batches per length-sorted window (see _batches)
COSINE_SCALE = 20.0  # logits = scale * cos(embedding, class vector): softmax needs a spread wider than [-1, 1]


@dataclass(frozen=True)
class EncoderSettings:
    """How the encoder is tuned: *max_seconds* stops training early (checked between batches)."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-2
    max_seq_length: int = 64
    warmup: float = 0.1
    seed: int = 0
    max_seconds: float | None = None
    threads: int | None = None  # torch's intra-op threads; None: see torch_threads


@dataclass(frozen=True)
class TuningReport:
    steps: int
    planned_steps: int
    seconds: float
    final_loss: float
    cpu_seconds: float = 0.0  # CPU time of the process: on a shared machine, wall time says more about the others
    threads: int = 1

    @property
    def stopped_early(self) -> bool:
        return self.steps < self.planned_steps


class TunedEncoder:
    """A sentence-transformers model after tuning; satisfies the Embedder protocol (normalised rows)."""

    def __init__(self, model: Any, model_id: str) -> None:
        self._model = model
        self.model_id = model_id
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    @classmethod
    def load(cls, folder: Path, model_id: str) -> TunedEncoder:
        from sentence_transformers import SentenceTransformer

        return cls(SentenceTransformer(str(folder), device="cpu"), model_id)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=batch_size, show_progress_bar=progress, normalize_embeddings=True
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def save(self, folder: Path) -> None:
        self._model.save(str(folder), safe_serialization=True)


def torch_threads(settings: EncoderSettings) -> int:
    """One thread per core, or one thread when the machine already has more runnable work than cores.

    On a shared machine torch's intra-op threads spend their time spinning at barriers, waiting for
    each other to be scheduled: at a load of 15 on 2 cores a step cost 4.5 s of CPU with two threads
    against 0.6 s with one (docs/eval.md).
    """
    if settings.threads:
        return settings.threads
    cores = os.cpu_count() or 1
    return 1 if os.getloadavg()[0] >= cores else cores


def tune(
    model_path: str,
    texts: Sequence[str],
    labels: Sequence[str],
    settings: EncoderSettings = EncoderSettings(),
    progress: Progress | None = None,
    vectors: np.ndarray | None = None,
) -> tuple[TunedEncoder, TuningReport]:
    """Tune the sentence-transformers model at *model_path* to separate *labels*; returns it and a report.

    *vectors* are the rows' embeddings by the untuned model when the caller has them (the example
    index stores them): they seed the class vectors without embedding every row again.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(settings.seed)
    threads = torch_threads(settings)
    torch.set_num_threads(threads)
    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = settings.max_seq_length
    classes = sorted(set(labels))
    targets = torch.tensor([classes.index(label) for label in labels])
    class_vectors = torch.nn.Parameter(_centroids(model, texts, targets, len(classes), vectors))
    batches = _batches([len(text) for text in texts], settings)
    optimiser = torch.optim.AdamW(
        [
            {"params": model.parameters(), "lr": settings.learning_rate},
            {"params": [class_vectors], "lr": settings.head_learning_rate, "weight_decay": 0.0},
        ]
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, _warmup_then_linear(len(batches), settings.warmup))
    report = progress or (lambda stage, done, total: None)
    started, cpu_started = time.monotonic(), time.process_time()
    # sentence-transformers 6 renamed tokenize to preprocess; older releases only have tokenize.
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    model.train()
    loss_value, steps = math.nan, 0
    for steps, batch in enumerate(batches, start=1):
        features = preprocess([texts[i] for i in batch])
        embedded = model(features)["sentence_embedding"]
        logits = COSINE_SCALE * torch.nn.functional.normalize(embedded, dim=1) @ torch.nn.functional.normalize(
            class_vectors, dim=1
        ).T
        loss = torch.nn.functional.cross_entropy(logits, targets[batch])
        loss.backward()
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        loss_value = float(loss.detach())
        report("tuning encoder", steps, len(batches))
        if settings.max_seconds is not None and time.monotonic() - started > settings.max_seconds:
            break
    model.eval()
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
    return TunedEncoder(model, model_path), TuningReport(steps, len(batches), seconds, loss_value, cpu, threads)


def _centroids(model: Any, texts: Sequence[str], targets: Any, classes: int, given: np.ndarray | None) -> Any:
    """Each class's mean embedding before tuning: a starting point that already classifies well."""
    import torch

    if given is None:
        given = model.encode(list(texts), batch_size=64, normalize_embeddings=True)
    vectors = torch.from_numpy(np.asarray(given, dtype=np.float32))
    sums = torch.zeros(classes, vectors.shape[1]).index_add_(0, targets, vectors)
    return torch.nn.functional.normalize(sums, dim=1)


def _batches(lengths: Sequence[int], settings: EncoderSettings) -> list[list[int]]:
    """Shuffled batches of rows of similar length, each epoch in a new order.

    A batch is padded to its longest text: random batches of questions between 3 and 80 tokens
    spend most of their compute on padding. Rows are shuffled, sorted by length within windows of
    BUCKET batches, cut into batches, and the batches shuffled again, so batches stay random in
    content and order but short texts train with short texts.
    """
    shuffler = random.Random(settings.seed)
    size, window = settings.batch_size, settings.batch_size * BUCKET
    batches: list[list[int]] = []
    for _ in range(settings.epochs):
        order = list(range(len(lengths)))
        shuffler.shuffle(order)
        epoch: list[list[int]] = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lengths.__getitem__)
            epoch.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
        shuffler.shuffle(epoch)
        batches.extend(epoch)
    return batches


def _warmup_then_linear(total: int, warmup: float) -> Callable[[int], float]:
    ramp = max(1, int(total * warmup))

    def factor(step: int) -> float:
        if step < ramp:
            return (step + 1) / ramp
        return max(0.0, (total - step) / max(1, total - ramp))

    return factor
