"""The decision "prompt, RAG or fine-tune?", made on the measured options and explained by the flowchart.

    1. Is the behaviour describable?              no  -> describe it first
    2. Does prompting meet the threshold on >= 500 gold cases?   yes -> prompting is enough
    3. Are there >= 1,000 labelled examples?      no  -> collect data first
    4. Is latency or per-request cost binding?    yes -> a fine-tuned small model to self-host
    5. RAG before fine-tuning; fine-tune only if RAG does not close the gap, with the
       smallest model that meets the threshold.

The recommendation is the best measured option (`options.choose`: the most accurate one meeting
the threshold and every SLO that is set, the cheapest among equals); the flowchart, walked whole
with the same numbers, says why. With nothing measured yet, the first step that decides says what
to measure or do next. Every input is a `Fact` with its value and where it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.config.route_sections import CostModelSettings
from gateway.evaluation.costmodel import Projection, project
from gateway.evaluation.options import Option, choose

MIN_GOLD_CASES = 500
MIN_LABELLED_EXAMPLES = 1000
PROMPTED = ("prompt", "rag")
FINE_TUNED = ("small", "cascade")


@dataclass(frozen=True)
class Fact:
    """One input to the advice; `value` None means it is not known. `kind`: measured, configured or assumed."""

    name: str
    value: Any
    measured: bool
    source: str
    fmt: str = "{}"
    configured: bool = False
    origin: str = ""

    @property
    def text(self) -> str:
        if self.value is None:
            return "unknown"
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        return self.fmt.format(self.value)

    @property
    def kind(self) -> str:
        if self.origin:
            return self.origin
        return "measured" if self.measured else "configured" if self.configured else "assumed"


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
    options: list[Option] = field(default_factory=list)
    prices: list[Fact] = field(default_factory=list)
    cost_model: list[Fact] = field(default_factory=list)
    escalation: dict[str, Any] | None = None

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
            *self.prices,
            self.api_cost_per_request,
            *self.cost_model,
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
    options: list[Option] = field(default_factory=list)
    chosen: Option | None = None
    notes: list[str] = field(default_factory=list)


StepOutcome = tuple[Step, str | None]


def advise(inputs: AdviceInputs) -> Advice:
    """Walk the whole flowchart; recommend the best measured option, or the first step's next action."""
    projection = project(inputs.cost, inputs.monthly_requests.value or 0.0)
    checks: Sequence[Callable[[AdviceInputs, Projection], StepOutcome]] = (
        _describable, _prompting_enough, _enough_data, _binding, _rag_first,
    )
    walked = [check(inputs, projection) for check in checks]
    steps = [step for step, _ in walked]
    chosen = choose(inputs.options) if inputs.describable.value else None
    if chosen is not None:
        recommendation = _ship(inputs, chosen)
    else:
        recommendation = next((action for _, action in walked if action),
                              "No measured option meets the threshold and the SLOs that are set.")
    return Advice(recommendation, steps, projection, inputs.facts(), inputs.options, chosen, _notes(inputs, chosen))


def _ship(inputs: AdviceInputs, chosen: Option) -> str:
    slower = [o for o in inputs.options if o.meets and o.score == chosen.score and o is not chosen]
    head = (f"Ship '{chosen.variant}' ({chosen.kind}): {inputs.metric} {chosen.score:.1%} on {chosen.n:,} cases, "
            f"${chosen.cost_per_1k:,.4f} per 1k requests at {inputs.monthly_requests.text}/month, "
            f"p95 {chosen.p95_ms:,.0f} ms.")
    others = [o for o in inputs.options if o is not chosen]
    better = [o for o in others if o.score > chosen.score]
    why = _why(inputs, chosen, others)
    tail = ""
    if better:
        tail = " More accurate but not eligible: " + "; ".join(f"'{o.variant}' ({o.why_not})" for o in better) + "."
    elif slower:
        tail = " Equally accurate but dearer or slower: " + ", ".join(f"'{o.variant}'" for o in slower) + "."
    return f"{head} {why}{tail}"


def _why(inputs: AdviceInputs, chosen: Option, others: Sequence[Option]) -> str:
    """The flowchart step that leads to *chosen*, with the measured comparison that decides it."""
    if chosen.variant == "prompt":
        return "Step 2: prompting alone meets the threshold and no measured option is more accurate."
    if chosen.variant == "rag":
        return "Step 5: RAG closes the gap, and no fine-tuned option is more accurate at equal or lower cost."
    if chosen.variant in FINE_TUNED:
        prompted = [o for o in others if o.variant in PROMPTED]
        if not prompted:
            return "Steps 4-5: the fine-tuned model meets the threshold (prompted options not measured)."
        best = max(prompted, key=lambda o: o.score)
        return (f"Steps 4-5: fine-tuning wins on the measured numbers: the best prompted option '{best.variant}' "
                f"reaches {best.score:.1%} at ${best.cost_per_1k:,.4f} per 1k and p95 {best.p95_ms:,.0f} ms.")
    return "It is the most accurate option that meets the threshold."


def _notes(inputs: AdviceInputs, chosen: Option | None) -> list[str]:
    notes = []
    escalation = inputs.escalation
    if escalation and not escalation.get("helps", True):
        notes.append(
            f"Escalation does not help: on the {escalation['n']} queries the cascade escalated, the large model "
            f"scored {escalation['large_accuracy']:.1%} and the small model alone {escalation['small_accuracy']:.1%}."
            " Serve the small model alone (policy fixed) or try a different large model."
        )
    sizes = {o.n for o in inputs.options}
    if len(sizes) > 1:
        notes.append("Options were measured on different numbers of cases ("
                     + ", ".join(f"{o.variant} {o.n:,}" for o in inputs.options)
                     + "); the 95% intervals are in the options table.")
    if inputs.slo_p95_ms.value is None:
        notes.append("No p95 SLO is set (route eval.slo.p95_ms): latency was not checked against one.")
    if chosen is None and inputs.options:
        notes.append("No measured option meets the threshold and the SLOs that are set.")
    return notes


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
    reasons, binding = _binding_reasons(inputs, projection)
    answer = "yes" if binding else "no"
    action = _finetune(inputs, "latency or cost is binding") if binding else None
    return Step(4, question, answer, "; ".join(reasons)), action


def _binding_reasons(inputs: AdviceInputs, projection: Projection) -> tuple[list[str], bool]:
    reasons, binding = [], False
    p95, slo = inputs.p95_ms.value, inputs.slo_p95_ms.value
    if slo is None:
        reasons.append("no p95 SLO set, latency not checked")
    elif p95 is not None:
        binding |= p95 > slo
        reasons.append(f"p95 {p95:,.0f} ms {'>' if p95 > slo else '<='} SLO {slo:,.0f} ms")
    cost, budget = inputs.cost_per_1k.value, inputs.slo_cost_per_1k.value
    if budget is not None and cost is not None:
        binding |= cost > budget
        reasons.append(f"${cost:,.4f} per 1k {'>' if cost > budget else '<='} budget ${budget:,.4f}")
    cheaper = _fine_tuned_cheaper(inputs.options)
    if cheaper:
        binding = True
        reasons.append(cheaper)
    elif projection.finetuning_cheaper_in_year_one:
        binding = True
        reasons.append(f"{projection.requests_per_month:,.0f} requests/month is above the year-one crossover "
                       f"{projection.year_one_crossover or 0.0:,.0f}")
    return reasons, binding


def _fine_tuned_cheaper(options: Sequence[Option]) -> str:
    """Why the measured fine-tuned option is cheaper than every measured prompted one, or ''."""
    prompted = [o for o in options if o.variant in PROMPTED]
    tuned = [o for o in options if o.variant in FINE_TUNED and o.meets]
    if not prompted or not tuned:
        return ""
    cheapest = min(tuned, key=lambda o: o.cost_per_1k)
    if all(cheapest.cost_per_1k < o.cost_per_1k for o in prompted):
        dearest = min(prompted, key=lambda o: o.cost_per_1k)
        return (f"measured: '{cheapest.variant}' ${cheapest.cost_per_1k:,.4f} per 1k against "
                f"'{dearest.variant}' ${dearest.cost_per_1k:,.4f}")
    return ""


def _rag_first(inputs: AdviceInputs, _: Projection) -> StepOutcome:
    question = "Does RAG close the gap before fine-tuning?"
    rag, threshold = inputs.scores["rag"].value, inputs.threshold.value
    if rag is None:
        step = Step(5, question, "not measured", f"run `ragway eval --route {inputs.route} --variants rag`")
        return step, "Try RAG next: measure the rag variant before fine-tuning."
    reason = f"rag {inputs.metric} {rag:.3f} vs threshold {threshold:.3f}"
    tuned = [(v, inputs.scores[v].value) for v in FINE_TUNED if inputs.scores[v].value is not None]
    better = [(v, s) for v, s in tuned if s > rag]
    if rag >= threshold and better:
        name, score = max(better, key=lambda pair: pair[1])
        return Step(5, question, "yes, but fine-tuned is better", f"{reason}; '{name}' {score:.3f}"), None
    if rag >= threshold:
        return Step(5, question, "yes", reason), "Ship RAG: retrieval with the large model meets the threshold."
    return Step(5, question, "no", reason), _finetune(inputs, "RAG does not close the gap")


def _finetune(inputs: AdviceInputs, why: str) -> str:
    threshold = inputs.threshold.value
    for variant in FINE_TUNED:
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
