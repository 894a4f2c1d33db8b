"""Encoder tuning's batches (every row once per epoch, similar lengths together) and thread count."""

from __future__ import annotations

import os
import random

import pytest

from gateway.smallmodel.encoder import BUCKET, EncoderSettings, _batches, torch_threads


def test_each_epoch_holds_every_row_once_in_a_new_order() -> None:
    lengths = [random.Random(1).randint(3, 80) for _ in range(1000)]
    batches = _batches(lengths, EncoderSettings(epochs=2, batch_size=32))
    per_epoch = len(batches) // 2
    first, second = batches[:per_epoch], batches[per_epoch:]
    assert sorted(i for b in first for i in b) == list(range(1000))
    assert sorted(i for b in second for i in b) == list(range(1000))
    assert first != second
    assert all(len(b) <= 32 for b in batches)


def test_batches_pad_less_than_random_batches() -> None:
    rng = random.Random(2)
    lengths = [rng.randint(3, 80) for _ in range(32 * BUCKET)]
    batches = _batches(lengths, EncoderSettings(epochs=1, batch_size=32))
    padded = sum(32 * max(lengths[i] for i in b) for b in batches)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    unsorted = sum(32 * max(lengths[i] for i in order[s : s + 32]) for s in range(0, len(order), 32))
    assert padded < 0.7 * unsorted


def test_one_torch_thread_on_a_machine_busier_than_its_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (15.0, 15.0, 15.0))
    assert torch_threads(EncoderSettings()) == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert torch_threads(EncoderSettings()) == 2
    assert torch_threads(EncoderSettings(threads=3)) == 3
