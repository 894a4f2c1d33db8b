"""The advisor: the best measured option is recommended, and the flowchart walked whole says why.

Without measured options (the fixture's default) the first step that decides names the next action.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.route_sections import CostModelSettings
from gateway.evaluation.advise import AdviceInputs, Fact, advise
from gateway.evaluation.options import Option, choose, mark_frontier


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
    raw = ("cost", "scores", "options", "escalation")
    base.update({key: fact(value) if key not in raw else value for key, value in changes.items()})
    return AdviceInputs(**base)


def option(variant: str, score: float, cost: float, p95: float = 100.0, threshold: float = 0.9) -> Option:
    return Option(variant, score, score - 0.02, score + 0.02, 600, p95, cost, "fixture", score >= threshold,
                  "" if score >= threshold else "below")


def answers(advice_steps: list) -> list[str]:
    return [step.answer for step in advice_steps]


def test_step1_undescribed_behaviour_comes_first() -> None:
    advice = advise(inputs(describable=False, options=[option("rag", 0.92, 5.0)]))

    assert advice.recommendation.startswith("Describe the behaviour first")
    assert answers(advice.steps)[0] == "no"
    assert advice.chosen is None


def test_step2_prompting_meeting_the_threshold_on_500_cases_ships_when_nothing_better_is_measured() -> None:
    advice = advise(inputs(scores={"prompt": 0.91, "rag": None, "small": None, "cascade": None}, prompt_cases=500))

    assert advice.recommendation.startswith("Ship prompting")
    assert answers(advice.steps)[:2] == ["yes", "yes"]


def test_step2_too_few_cases_does_not_ship_prompting() -> None:
    advice = advise(inputs(scores={"prompt": 0.91, "small": None, "cascade": None}, prompt_cases=499))

    assert advice.steps[1].answer == "too few cases"
    assert advice.recommendation.startswith("Ship RAG")


def test_step2_unmeasured_prompting_is_named_and_the_walk_goes_on() -> None:
    advice = advise(inputs(scores={"prompt": None}))

    assert advice.steps[1].answer == "not measured"
    assert "--variants prompt" in advice.steps[1].reason
    assert len(advice.steps) == 5


@pytest.mark.parametrize("count", [999, None])
def test_step3_without_1000_labelled_examples_collect_data(count: int | None) -> None:
    advice = advise(inputs(labelled_examples=count))

    assert advice.recommendation.startswith("Collect data first")
    assert answers(advice.steps)[:3] == ["yes", "no", "no"]


def test_step4_latency_over_the_slo_is_binding_and_an_unset_slo_is_never_claimed() -> None:
    over = advise(inputs(p95_ms=2000.0))
    unset = advise(inputs(slo_p95_ms=None))

    assert over.steps[3].answer == "yes"
    assert "p95 2,000 ms > SLO 1,500 ms" in over.steps[3].reason
    assert over.recommendation.startswith("Fine-tune a small model to self-host (latency or cost is binding)")
    assert "'small' (accuracy 0.930)" in over.recommendation
    assert "no p95 SLO set" in unset.steps[3].reason
    assert "within the SLO" not in " ".join(s.reason for s in unset.steps)
    assert any("No p95 SLO is set" in note for note in unset.notes)


def test_step4_volume_above_the_year_one_crossover_makes_cost_binding() -> None:
    advice = advise(inputs(monthly_requests=600_000.0, scores={"small": 0.5}))

    assert "600,000 requests/month is above the year-one crossover 500,000" in advice.steps[3].reason
    assert "'cascade' (accuracy 0.950)" in advice.recommendation


def test_step4_cost_over_budget_is_binding() -> None:
    advice = advise(inputs(slo_cost_per_1k=5.0))

    assert advice.steps[3].answer == "yes"
    assert "$10.0000 per 1k > budget $5.0000" in advice.steps[3].reason


def test_step5_rag_meeting_the_threshold_ships_rag_without_better_fine_tuned_numbers() -> None:
    advice = advise(inputs(scores={"small": None, "cascade": None}))

    assert answers(advice.steps) == ["yes", "no", "yes", "no", "yes"]
    assert advice.recommendation.startswith("Ship RAG")


def test_step5_says_when_a_fine_tuned_variant_beats_rag() -> None:
    advice = advise(inputs())

    assert advice.steps[4].answer == "yes, but fine-tuned is better"
    assert "'cascade' 0.950" in advice.steps[4].reason


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


def test_the_most_accurate_eligible_option_ships_not_the_first_step_that_passes() -> None:
    # banking77 as measured: RAG meets the threshold, yet the trained small model is more accurate and free
    options = [option("prompt", 0.0, 0.4, threshold=0.8), option("rag", 0.88, 4.1, p95=14_000, threshold=0.8),
               option("small", 0.924, 0.0, p95=6, threshold=0.8), option("cascade", 0.907, 1.2, 9_000, 0.8)]
    advice = advise(inputs(options=options, threshold=0.8, scores={"prompt": 0.0, "rag": 0.88, "small": 0.924,
                                                                    "cascade": 0.907}, slo_p95_ms=None))

    assert advice.chosen is not None and advice.chosen.variant == "small"
    assert advice.recommendation.startswith("Ship 'small'")
    assert "Steps 4-5" in advice.recommendation and "'rag' reaches 88.0%" in advice.recommendation
    best = max(options, key=lambda o: o.score)
    assert advice.chosen.score >= best.score and advice.chosen.cost_per_1k <= best.cost_per_1k


def test_choice_prefers_accuracy_then_cost_then_latency_and_respects_the_bars() -> None:
    a, b, c = option("rag", 0.93, 5.0, p95=900), option("small", 0.93, 0.0, p95=900), option("cascade", 0.95, 1.0)
    low = option("prompt", 0.97, 9.0, threshold=0.99)

    assert choose([a, b]) is b
    assert choose([a, b, c]) is c
    assert choose([a, b, c, low]) is c
    assert choose([low]) is None


def test_frontier_marks_the_options_nothing_beats_on_every_axis() -> None:
    marked = {o.variant: o.frontier for o in mark_frontier(
        [option("rag", 0.88, 4.0, p95=9_000), option("small", 0.92, 0.0, p95=6), option("cascade", 0.95, 1.0)]
    )}

    assert marked == {"rag": False, "small": True, "cascade": True}


def test_escalation_that_does_not_help_is_called_out() -> None:
    escalation = {"n": 303, "large_accuracy": 0.386, "small_accuracy": 0.521, "helps": False}

    advice = advise(inputs(escalation=escalation))

    note = next(n for n in advice.notes if n.startswith("Escalation does not help"))
    assert "38.6%" in note and "52.1%" in note and "small model alone" in note


def test_advice_carries_the_projection_and_every_input_marked() -> None:
    advice = advise(inputs())

    assert advice.projection.requests_per_month == 100_000
    assert advice.projection.prompting_monthly == pytest.approx(750 + 1_000)
    assert {f.kind for f in advice.inputs} == {"measured", "assumed"}
    assert fact(None).text == "unknown"
