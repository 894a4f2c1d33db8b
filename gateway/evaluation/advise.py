"""The decision flowchart "prompt, RAG or fine-tune?", walked with measured inputs.

    1. Is the behaviour describable?              no  -> describe it first
    2. Does prompting meet the threshold on >= 500 gold cases?   yes -> ship prompting
    3. Are there >= 1,000 labelled examples?      no  -> collect data first
    4. Is latency or per-request cost binding?    yes -> fine-tune a small model to self-host
    5. RAG before fine-tuning; fine-tune only if RAG does not close the gap, with the
       smallest model that meets the threshold.

Every input is a `Fact` marked measured (eval history, logs, index manifests) or assumed
(configured or default), and the advice carries the cost projection of both options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.config.route_sections import CostModelSettings
from gateway.evaluation.costmodel import Projection, project

MIN_GOLD_CASES = 500
MIN_LABELLED_EXAMPLES = 1000
# Smallest first: the classifier head alone, then the head escalating to the large model when unsure.
SMALL_BY_SIZE = ("small", "cascade")


@dataclass(frozen=True)
class Fact:
    """One input to the advice; `value` None means it is not known."""

    name: str
    value: Any
    measured: bool
    source: str
    fmt: str = "{}"

    @property
    def text(self) -> str:
        if self.value is None:
            return "unknown"
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        return self.fmt.format(self.value)

    @property
    def kind(self) -> str:
        return "measured" if self.measured else "assumed"


@dataclass(frozen=True)
class AdviceInputs:
    route: str
    metric: str
    describable: Fact
    threshold: Fact
    scores: dict[str, Fact]
    prompt_cases: Fact
    labelled_examples: Fact
    p95_ms: Fact
    slo_p95_ms: Fact
    cost_per_1k: Fact
    slo_cost_per_1k: Fact
    monthly_requests: Fact
    api_cost_per_request: Fact
    cost: CostModelSettings

    def facts(self) -> list[Fact]:
        return [
            self.describable,
            self.threshold,
            *self.scores.values(),
            self.prompt_cases,
            self.labelled_examples,
            self.p95_ms,
            self.slo_p95_ms,
            self.cost_per_1k,
            self.slo_cost_per_1k,
            self.monthly_requests,
            self.api_cost_per_request,
        ]


@dataclass(frozen=True)
class Step:
    number: int
    question: str
    answer: str
    reason: str


@dataclass(frozen=True)
class Advice:
    recommendation: str
    steps: list[Step]
    projection: Projection
    inputs: list[Fact]


StepOutcome = tuple[Step, str | None]


def advise(inputs: AdviceInputs) -> Advice:
    """Walk the flowchart until a step decides; every step walked is kept with its reason."""
    projection = project(inputs.cost, inputs.monthly_requests.value or 0.0)
    steps: list[Step] = []
    checks: Sequence[Callable[[AdviceInputs, Projection], StepOutcome]] = (
        _describable,
        _prompting_enough,
        _enough_data,
        _binding,
        _rag_first,
    )
    for check in checks:
        step, recommendation = check(inputs, projection)
        steps.append(step)
        if recommendation:
            return Advice(recommendation, steps, projection, inputs.facts())
    raise AssertionError("the last step always decides")


def _describable(inputs: AdviceInputs, _: Projection) -> StepOutcome:
    question = "Is the behaviour describable (system prompt and task type)?"
    if inputs.describable.value:
        return Step(1, question, "yes", inputs.describable.source), None
    step = Step(1, question, "no", f"{inputs.describable.source}: write a system prompt and set the task type")
    return step, "Describe the behaviour first: a system prompt and a task type in the route file."


def _prompting_enough(inputs: AdviceInputs, _: Projection) -> StepOutcome:
    question = f"Does prompting reach the threshold on >= {MIN_GOLD_CASES} gold cases?"
    score, cases, threshold = inputs.scores["prompt"].value, inputs.prompt_cases.value or 0, inputs.threshold.value
    if score is None:
        return Step(2, question, "not measured", f"run `ragway eval --route {inputs.route} --variants prompt`"), None
    reason = f"prompt {inputs.metric} {score:.3f} vs threshold {threshold:.3f} on {cases} cases"
    if score >= threshold and cases >= MIN_GOLD_CASES:
        return Step(2, question, "yes", reason), "Ship prompting: the prompted large model meets the threshold."
    if score >= threshold:
        return Step(2, question, "too few cases", f"{reason}; measure on >= {MIN_GOLD_CASES} to rely on it"), None
    return Step(2, question, "no", reason), None


def _enough_data(inputs: AdviceInputs, _: Projection) -> StepOutcome:
    question = f"Are there >= {MIN_LABELLED_EXAMPLES:,} labelled examples?"
    count = inputs.labelled_examples.value
    reason = f"{inputs.labelled_examples.text} ({inputs.labelled_examples.source})"
    if count is not None and count >= MIN_LABELLED_EXAMPLES:
        return Step(3, question, "yes", reason), None
    return Step(3, question, "no", reason), (
        f"Collect data first: at least {MIN_LABELLED_EXAMPLES:,} labelled examples before RAG or fine-tuning."
    )


def _binding(inputs: AdviceInputs, projection: Projection) -> StepOutcome:
    question = "Is latency (p95 against the SLO) or per-request cost binding?"
    reasons = _binding_reasons(inputs, projection)
    if not reasons:
        return Step(4, question, "no", "p95 within the SLO and prompting cheaper in year one at this volume"), None
    return Step(4, question, "yes", "; ".join(reasons)), _finetune(inputs, "latency or cost is binding")


def _binding_reasons(inputs: AdviceInputs, projection: Projection) -> list[str]:
    reasons = []
    p95, slo = inputs.p95_ms.value, inputs.slo_p95_ms.value
    if p95 is not None and slo is not None and p95 > slo:
        reasons.append(f"p95 {p95:,.0f} ms > SLO {slo:,.0f} ms")
    cost, budget = inputs.cost_per_1k.value, inputs.slo_cost_per_1k.value
    if cost is not None and budget is not None and cost > budget:
        reasons.append(f"${cost:,.4f} per 1k requests > budget ${budget:,.4f}")
    if projection.finetuning_cheaper_in_year_one:
        crossing = projection.year_one_crossover or 0.0
        reasons.append(
            f"{projection.requests_per_month:,.0f} requests/month is above the year-one crossover {crossing:,.0f}"
        )
    return reasons


def _rag_first(inputs: AdviceInputs, _: Projection) -> StepOutcome:
    question = "Does RAG close the gap before fine-tuning?"
    rag, threshold = inputs.scores["rag"].value, inputs.threshold.value
    if rag is None:
        step = Step(5, question, "not measured", f"run `ragway eval --route {inputs.route} --variants rag`")
        return step, "Try RAG next: measure the rag variant before fine-tuning."
    reason = f"rag {inputs.metric} {rag:.3f} vs threshold {threshold:.3f}"
    if rag >= threshold:
        return Step(5, question, "yes", reason), "Ship RAG: retrieval with the large model meets the threshold."
    return Step(5, question, "no", reason), _finetune(inputs, "RAG does not close the gap")


def _finetune(inputs: AdviceInputs, why: str) -> str:
    threshold = inputs.threshold.value
    for variant in SMALL_BY_SIZE:
        score = inputs.scores[variant].value
        if score is not None and score >= threshold:
            return (
                f"Fine-tune a small model to self-host ({why}); the smallest that meets the threshold "
                f"is '{variant}' ({inputs.metric} {score:.3f})."
            )
    return (
        f"Fine-tune a small model to self-host ({why}); no measured small variant meets the threshold yet: "
        f"train one with `ragway finetune --route {inputs.route}` and measure it with --variants small,cascade."
    )
