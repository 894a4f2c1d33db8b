"""How the ONNX embedder cuts a micro-batch into forward passes (retrieval.onnx_embedder.passes)."""

from __future__ import annotations

import itertools
import random

import pytest

from retrieval.onnx_embedder import PASS_TOKENS, passes


def cost(lengths: list[int], cuts: list[slice]) -> int:
    return sum(PASS_TOKENS + len(lengths[part]) * max(lengths[part]) for part in cuts)


def brute_force(lengths: list[int], most: int) -> int:
    """The least cost over every way to cut *lengths* into runs of at most *most*."""
    best = None
    for mask in itertools.product((False, True), repeat=len(lengths) - 1):
        bounds = [0] + [i + 1 for i, cut in enumerate(mask) if cut] + [len(lengths)]
        parts = [slice(a, b) for a, b in itertools.pairwise(bounds)]
        if all(p.stop - p.start <= most for p in parts):
            value = cost(lengths, parts)
            best = value if best is None else min(best, value)
    assert best is not None
    return best


def test_passes_cover_every_text_once_in_order() -> None:
    lengths = sorted(random.Random(1).choices(range(3, 80), k=200))
    cuts = passes(lengths, 32)
    assert cuts[0].start == 0 and cuts[-1].stop == len(lengths)
    assert all(a.stop == b.start for a, b in itertools.pairwise(cuts))
    assert all(0 < c.stop - c.start <= 32 for c in cuts)


@pytest.mark.parametrize("seed", range(20))
def test_passes_are_the_cheapest_cut(seed: int) -> None:
    rng = random.Random(seed)
    lengths = sorted(rng.choices(range(3, 60), k=rng.randint(1, 11)))
    most = rng.randint(1, 8)
    assert cost(lengths, passes(lengths, most)) == brute_force(lengths, most)


def test_equal_lengths_fill_passes_and_a_long_text_runs_alone() -> None:
    assert [c.stop - c.start for c in passes([16] * 64, 32)] == [32, 32]
    # padding 15 short texts to 200 tokens costs far more than a second pass
    assert passes([12] * 15 + [200], 32) == [slice(0, 15), slice(15, 16)]


def test_no_texts_no_passes() -> None:
    assert passes([], 8) == []
