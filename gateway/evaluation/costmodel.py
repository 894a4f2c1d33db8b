"""Cost of "prompted large model" against "self-hosted fine-tuned small model", and where they cross.

Each option is a one-off setup cost, a fixed monthly cost and a cost per request. Two crossovers:
the running one (monthly costs only: the volume above which fine-tuning is cheaper once built)
and the year-one one (setup spread over twelve months: above it fine-tuning pays for itself
within the first year). Between the two the answer depends on how long the route will live.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.route_sections import CostModelSettings

MONTHS_IN_YEAR = 12


@dataclass(frozen=True)
class OptionCost:
    name: str
    setup: float
    monthly_fixed: float
    per_request: float

    def monthly(self, requests: float) -> float:
        return self.monthly_fixed + self.per_request * requests

    def year_one(self, requests_per_month: float) -> float:
        return self.setup + MONTHS_IN_YEAR * self.monthly(requests_per_month)


@dataclass(frozen=True)
class Projection:
    """Both options at one monthly volume; a crossover is None when fine-tuning never gets cheaper."""

    requests_per_month: float
    prompting: OptionCost
    finetuning: OptionCost
    running_crossover: float | None
    year_one_crossover: float | None

    @property
    def prompting_monthly(self) -> float:
        return self.prompting.monthly(self.requests_per_month)

    @property
    def finetuning_monthly(self) -> float:
        return self.finetuning.monthly(self.requests_per_month)

    @property
    def finetuning_cheaper_in_year_one(self) -> bool:
        volume = self.requests_per_month
        return self.finetuning.year_one(volume) < self.prompting.year_one(volume)


def prompting_cost(params: CostModelSettings) -> OptionCost:
    """Engineering the prompt once, maintaining it monthly, and paying the API per request."""
    return OptionCost(
        name="prompted large model",
        setup=params.prompt_engineering_hours * params.hourly_rate,
        monthly_fixed=params.prompt_maintenance_hours_per_month * params.hourly_rate,
        per_request=params.api_cost_per_request,
    )


def finetuning_cost(params: CostModelSettings) -> OptionCost:
    """Engineering, data preparation and training once; hosting and maintenance monthly."""
    engineering = params.finetune_engineering_hours * params.hourly_rate
    return OptionCost(
        name="self-hosted fine-tuned small model",
        setup=engineering + params.data_preparation + params.training_compute,
        monthly_fixed=params.hosting_per_month + params.finetune_maintenance_hours_per_month * params.hourly_rate,
        per_request=params.self_hosted_cost_per_request,
    )


def crossover(cheap_start: OptionCost, cheap_scale: OptionCost, amortize_months: int | None) -> float | None:
    """Monthly volume where *cheap_scale* becomes as cheap as *cheap_start*.

    Setup costs are spread over *amortize_months* (None: ignored, running costs only). None when
    *cheap_scale* costs at least as much per request, so it never catches up; 0 when it is never dearer.
    """
    saving_per_request = cheap_start.per_request - cheap_scale.per_request
    extra_fixed = cheap_scale.monthly_fixed - cheap_start.monthly_fixed
    if amortize_months:
        extra_fixed += (cheap_scale.setup - cheap_start.setup) / amortize_months
    if saving_per_request <= 0:
        return 0.0 if extra_fixed <= 0 else None
    return max(0.0, extra_fixed / saving_per_request)


def project(params: CostModelSettings, requests_per_month: float) -> Projection:
    """Both options' costs at *requests_per_month*, with the running and year-one crossovers."""
    prompting, finetuning = prompting_cost(params), finetuning_cost(params)
    return Projection(
        requests_per_month=requests_per_month,
        prompting=prompting,
        finetuning=finetuning,
        running_crossover=crossover(prompting, finetuning, None),
        year_one_crossover=crossover(prompting, finetuning, MONTHS_IN_YEAR),
    )
