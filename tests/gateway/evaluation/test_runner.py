"""The runner: every gold example through the answer function per variant, bounded, scored."""

from __future__ import annotations

import pytest
from rich.progress import Progress

from gateway.evaluation.runner import match_label, run_variants
from tests.gateway.evaluation.fakes import GOLD, FakeAnswerFn, route_config

RIGHT = {e.input: e.expected for e in GOLD}
# the small model mixes up one card_arrival query
HALF_RIGHT = {**RIGHT, "card not here yet": "exchange_rate"}


async def test_each_variant_is_scored_with_latency_cost_and_target_share() -> None:
    answer = FakeAnswerFn(
        {"large": RIGHT, "small": HALF_RIGHT},
        latency_ms={"large": 400.0, "small": 2.0},
        cost_usd={"large": 0.002, "small": 0.0},
    )

    with Progress(disable=True) as progress:
        results = await run_variants(answer, route_config(), ["prompt", "small"], GOLD, progress, concurrency=2)

    prompt, small = results
    assert prompt.scalars()["accuracy"] == 1.0
    assert prompt.p95_ms == 400.0
    assert prompt.cost_per_1k_usd == pytest.approx(2.0)
    assert prompt.target_share == {"large": 1.0}
    assert small.scalars()["accuracy"] == 0.75
    assert small.metrics.confusion == ((1, 1), (0, 2))
    assert small.target_share == {"small": 1.0}
    assert {c.policy.target_names()[0] for c in answer.configs} == {"large", "small"}


async def test_concurrency_is_bounded() -> None:
    answer = FakeAnswerFn({"large": RIGHT})

    with Progress(disable=True) as progress:
        await run_variants(answer, route_config(), ["prompt"], GOLD * 5, progress, concurrency=3)

    assert answer.peak == 3


async def test_gateway_errors_count_as_wrong_and_are_left_out_of_latency() -> None:
    answer = FakeAnswerFn({"large": RIGHT}, latency_ms={"large": 50.0}, failing_inputs=frozenset({"where is my card"}))

    with Progress(disable=True) as progress:
        (result,) = await run_variants(answer, route_config(), ["route"], GOLD, progress)

    assert result.errors == 1
    assert result.scalars()["error_rate"] == 0.25
    assert result.scalars()["accuracy"] == 0.75
    assert result.p50_ms == 50.0
    assert result.target_share == {"large": 0.75}


async def test_progress_advances_once_per_example_per_variant() -> None:
    answer = FakeAnswerFn({"large": RIGHT, "small": RIGHT})

    with Progress(disable=True) as progress:
        await run_variants(answer, route_config(), ["prompt", "small"], GOLD, progress)

    assert [(t.completed, t.total) for t in progress.tasks] == [(4, 4), (4, 4)]


def test_match_label_forgives_case_quotes_and_a_final_period_only() -> None:
    labels = ["card_arrival", "exchange_rate"]

    assert match_label(' "Card_Arrival". ', labels) == "card_arrival"
    assert match_label("the label is card_arrival", labels) == "the label is card_arrival"
    assert match_label(None, labels) is None
