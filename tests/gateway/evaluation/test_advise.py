"""The advisor's flowchart: one fixture per branch, each ending where the framework says."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.route_sections import CostModelSettings
from gateway.evaluation.advise import AdviceInputs, Fact, advise


def fact(value: Any, measured: bool = True) -> Fact:
    return Fact("x", value, measured, "fixture")


def inputs(**changes: Any) -> AdviceInputs:
    """A route where prompting falls short, data suffices, nothing binds, and RAG reaches the threshold."""
    scores = {"prompt": 0.70, "rag": 0.92, "small": 0.93, "cascade": 0.95, **changes.pop("scores", {})}
    base: dict[str, Any] = {
        "route": "banking77",
        "metric": "accuracy",
        "describable": fact(True),
        "threshold": fact(0.9, measured=False),
        "scores": {name: fact(value) for name, value in scores.items()},
        "prompt_cases": fact(600),
        "labelled_examples": fact(10_003),
        "p95_ms": fact(800.0),
        "slo_p95_ms": fact(1500.0, measured=False),
        "cost_per_1k": fact(10.0),
        "slo_cost_per_1k": fact(None, measured=False),
        "monthly_requests": fact(100_000.0, measured=False),
        "api_cost_per_request": fact(0.01, measured=False),
        "cost": CostModelSettings(monthly_requests=100_000),
    }
    base.update({key: fact(value) if key not in ("cost", "scores") else value for key, value in changes.items()})
    return AdviceInputs(**base)


def answers(advice_steps: list) -> list[str]:
    return [step.answer for step in advice_steps]


def test_step1_undescribed_behaviour_comes_first() -> None:
    advice = advise(inputs(describable=False))

    assert advice.recommendation.startswith("Describe the behaviour first")
    assert answers(advice.steps) == ["no"]


def test_step2_prompting_meeting_the_threshold_on_500_cases_ships() -> None:
    advice = advise(inputs(scores={"prompt": 0.91}, prompt_cases=500))

    assert advice.recommendation.startswith("Ship prompting")
    assert answers(advice.steps) == ["yes", "yes"]


def test_step2_too_few_cases_does_not_ship_prompting() -> None:
    advice = advise(inputs(scores={"prompt": 0.91}, prompt_cases=499))

    assert advice.steps[1].answer == "too few cases"
    assert advice.recommendation.startswith("Ship RAG")


def test_step2_unmeasured_prompting_is_named_and_the_walk_goes_on() -> None:
    advice = advise(inputs(scores={"prompt": None}))

    assert advice.steps[1].answer == "not measured"
    assert "--variants prompt" in advice.steps[1].reason


@pytest.mark.parametrize("count", [999, None])
def test_step3_without_1000_labelled_examples_collect_data(count: int | None) -> None:
    advice = advise(inputs(labelled_examples=count))

    assert advice.recommendation.startswith("Collect data first")
    assert answers(advice.steps) == ["yes", "no", "no"]


def test_step4_latency_over_the_slo_means_fine_tune_the_smallest_model_that_meets() -> None:
    advice = advise(inputs(p95_ms=2000.0))

    assert advice.steps[3].answer == "yes"
    assert "p95 2,000 ms > SLO 1,500 ms" in advice.steps[3].reason
    assert advice.recommendation.startswith("Fine-tune a small model to self-host (latency or cost is binding)")
    assert "'small' (accuracy 0.930)" in advice.recommendation


def test_step4_volume_above_the_year_one_crossover_makes_cost_binding() -> None:
    advice = advise(inputs(monthly_requests=600_000.0, scores={"small": 0.5}))

    assert "600,000 requests/month is above the year-one crossover 500,000" in advice.steps[3].reason
    assert "'cascade' (accuracy 0.950)" in advice.recommendation


def test_step4_cost_over_budget_is_binding() -> None:
    advice = advise(inputs(slo_cost_per_1k=5.0))

    assert advice.steps[3].answer == "yes"
    assert "$10.0000 per 1k requests > budget $5.0000" in advice.steps[3].reason


def test_step5_rag_meeting_the_threshold_ships_rag() -> None:
    advice = advise(inputs())

    assert answers(advice.steps) == ["yes", "no", "yes", "no", "yes"]
    assert advice.recommendation.startswith("Ship RAG")


def test_step5_rag_short_of_the_threshold_fine_tunes_the_smallest_that_meets() -> None:
    advice = advise(inputs(scores={"rag": 0.85}))

    assert advice.recommendation.startswith("Fine-tune a small model to self-host (RAG does not close the gap)")
    assert "'small'" in advice.recommendation


def test_step5_no_small_variant_meets_yet() -> None:
    advice = advise(inputs(scores={"rag": 0.85, "small": 0.8, "cascade": None}))

    assert "no measured small variant meets the threshold yet" in advice.recommendation


def test_step5_unmeasured_rag_is_tried_before_fine_tuning() -> None:
    advice = advise(inputs(scores={"rag": None}))

    assert advice.recommendation.startswith("Try RAG next")


def test_advice_carries_the_projection_and_every_input_marked() -> None:
    advice = advise(inputs())

    assert advice.projection.requests_per_month == 100_000
    assert advice.projection.prompting_monthly == pytest.approx(750 + 1_000)
    assert {f.kind for f in advice.inputs} == {"measured", "assumed"}
    assert fact(None).text == "unknown"
