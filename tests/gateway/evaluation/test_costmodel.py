"""The cost model: both options' monthly and year-one costs, and the crossovers, checked by hand."""

from __future__ import annotations

import pytest

from gateway.config.route_sections import CostModelSettings
from gateway.evaluation.costmodel import OptionCost, crossover, finetuning_cost, project, prompting_cost

HAND = CostModelSettings(
    hourly_rate=100,
    prompt_engineering_hours=40,
    prompt_maintenance_hours_per_month=2,
    finetune_engineering_hours=100,
    data_preparation=5_000,
    training_compute=1_000,
    hosting_per_month=300,
    finetune_maintenance_hours_per_month=3,
    api_cost_per_request=0.002,
    self_hosted_cost_per_request=0.0005,
)


def test_defaults_reproduce_the_framework_figures() -> None:
    projection = project(CostModelSettings(), 50_000)

    # prompting cheaper below ~50k/month, fine-tuning cheaper above ~500k/month within year one
    assert projection.running_crossover == pytest.approx(50_000)
    assert projection.year_one_crossover == pytest.approx(500_000)
    assert 20_000 <= projection.prompting.year_one(50_000) <= 60_000
    assert 50_000 <= projection.finetuning.year_one(50_000) <= 150_000


def test_hand_computed_costs_and_crossovers() -> None:
    prompting, finetuning = prompting_cost(HAND), finetuning_cost(HAND)

    assert (prompting.setup, prompting.monthly_fixed, prompting.per_request) == (4_000, 200, 0.002)
    assert (finetuning.setup, finetuning.monthly_fixed, finetuning.per_request) == (16_000, 600, 0.0005)
    # running: (600 - 200) / (0.002 - 0.0005) = 266,666.67 requests a month
    assert crossover(prompting, finetuning, None) == pytest.approx(800_000 / 3)
    # year one: (400 + (16,000 - 4,000) / 12) / 0.0015 = 933,333.33
    assert crossover(prompting, finetuning, 12) == pytest.approx(2_800_000 / 3)

    projection = project(HAND, 100_000)
    assert (projection.prompting_monthly, projection.finetuning_monthly) == pytest.approx((400, 650))
    assert not projection.finetuning_cheaper_in_year_one
    assert project(HAND, 1_000_000).finetuning_cheaper_in_year_one


def test_no_crossover_when_the_api_is_not_dearer_per_request() -> None:
    free_api = OptionCost("api", setup=0, monthly_fixed=0, per_request=0.0)
    hosted = OptionCost("hosted", setup=1000, monthly_fixed=100, per_request=0.0)

    assert crossover(free_api, hosted, None) is None
    assert crossover(hosted, free_api, 12) == 0.0
