"""Run gold examples through an answer function, one variant at a time, and score what came back.

The answer function is the gateway's own request path (the service supplies it), so an eval
measures exactly what users get: retrieval, policy, targets, latency and cost included.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from rich.progress import Progress

from gateway.config.route import RouteConfig
from gateway.errors import GatewayError
from gateway.evaluation import metrics, slices
from gateway.evaluation.metrics import TaskMetrics
from gateway.evaluation.slices import Escalation, OutOfScope, Scored, TargetSlice
from gateway.evaluation.variants import VariantError, build_variant, small_target
from gateway.gold import GoldExample


@dataclass(frozen=True)
class Answer:
    """What the gateway answered one request with, and what that took."""

    text: str
    target: str
    latency_ms: float
    cost_usd: float
    tokens_in: int = 0
    tokens_out: int = 0


Messages = list[dict[str, str]]
AnswerFn = Callable[[RouteConfig, Messages], Awaitable[Answer]]


@dataclass(frozen=True)
class Outcome:
    example: GoldExample
    answer: Answer | None
    error: str = ""


@dataclass(frozen=True)
class VariantResult:
    variant: str
    n: int
    errors: int
    metrics: TaskMetrics
    p50_ms: float
    p95_ms: float
    cost_per_1k_usd: float
    target_share: dict[str, float]
    by_target: tuple[TargetSlice, ...] = ()
    target_cost_per_1k: dict[str, float] = field(default_factory=dict)
    escalation: Escalation | None = None
    out_of_scope: OutOfScope | None = None
    misses: tuple[Scored, ...] = ()

    def scalars(self) -> dict[str, float]:
        """Task metrics plus latency, cost and error rate, flat by name."""
        return {
            **self.metrics.scalars(),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "cost_per_1k_usd": self.cost_per_1k_usd,
            "error_rate": self.errors / self.n if self.n else 0.0,
        }

    def details(self) -> dict[str, object]:
        """What the flat scalars leave out: per-target slices and costs, escalation and out-of-scope checks."""
        return {
            "by_target": [s.as_dict() for s in self.by_target],
            "target_cost_per_1k_usd": self.target_cost_per_1k,
            "escalation": self.escalation.as_dict() if self.escalation else None,
            "out_of_scope": self.out_of_scope.as_dict() if self.out_of_scope else None,
        }


async def run_variants(
    answer: AnswerFn,
    route: RouteConfig,
    variants: Sequence[str],
    gold: Sequence[GoldExample],
    progress: Progress,
    concurrency: int = 4,
    oos_label: str | None = None,
) -> list[VariantResult]:
    """Each variant of *route* over every gold example, with one progress bar per variant.

    A cascade is also compared with the small model alone on the slice it escalated: from the
    `small` variant when it ran too, else by running the small model on that slice.
    """
    label = slices.oos_label([example.expected for example in gold], oos_label)
    results, scored_by_variant = [], {}
    for name in variants:
        config = build_variant(name, route)
        task = progress.add_task(f"{name:<8}", total=len(gold))
        outcomes = await run_examples(answer, config, gold, concurrency, partial(progress.advance, task))
        scored_by_variant[name] = score_each(config, outcomes)
        results.append(summarize(name, config, outcomes, label))
    for i, result in enumerate(results):
        if result.variant == "cascade" and route.task == "classification":
            escalated = await _escalation(answer, route, gold, scored_by_variant, concurrency, progress)
            results[i] = replace(result, escalation=escalated)
    return results


async def _escalation(
    answer: AnswerFn,
    route: RouteConfig,
    gold: Sequence[GoldExample],
    scored: dict[str, list[Scored]],
    concurrency: int,
    progress: Progress,
) -> Escalation | None:
    """The cascade's escalated slice scored for both targets (the small one run on it when not yet measured)."""
    try:
        small_name = small_target(build_variant("cascade", route))
    except VariantError:
        return None
    cascade = scored["cascade"]
    if "small" in scored:
        own = scored["small"]
    else:
        lines = {item.line for item in cascade if item.target != small_name and not item.error}
        subset = [example for example in gold if example.line in lines]
        config = build_variant("small", route)
        task = progress.add_task("small on escalated", total=len(subset))
        own = score_each(config, await run_examples(answer, config, subset, concurrency,
                                                    partial(progress.advance, task)))
    return slices.escalation(cascade, {item.line: item for item in own}, small_name)


async def run_examples(
    answer: AnswerFn,
    config: RouteConfig,
    gold: Sequence[GoldExample],
    concurrency: int,
    on_done: Callable[[], None],
) -> list[Outcome]:
    """Every example through *answer* with at most *concurrency* in flight; results in gold order."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(example: GoldExample) -> Outcome:
        async with gate:
            try:
                outcome = Outcome(example, await answer(config, [{"role": "user", "content": example.input}]))
            except GatewayError as exc:
                outcome = Outcome(example, None, f"{exc.code}: {exc.message}")
        on_done()
        return outcome

    return list(await asyncio.gather(*(one(example) for example in gold)))


def summarize(variant: str, config: RouteConfig, outcomes: Sequence[Outcome], oos_label: str | None = None
              ) -> VariantResult:
    """Score *outcomes* by the route's task, with latency, cost and target shares over the answered ones."""
    answered = [o.answer for o in outcomes if o.answer is not None]
    latencies = [a.latency_ms for a in answered]
    targets = Counter(a.target for a in answered)
    n = len(outcomes)
    scored = score_each(config, outcomes)
    local = _small_name(config)
    return VariantResult(
        variant=variant,
        n=n,
        errors=n - len(answered),
        metrics=score(config, outcomes),
        p50_ms=metrics.percentile(latencies, 50),
        p95_ms=metrics.percentile(latencies, 95),
        cost_per_1k_usd=metrics.cost_per_1k([a.cost_usd for a in answered]),
        target_share={target: count / n for target, count in targets.most_common()},
        by_target=slices.target_slices(scored, _labels(config, outcomes)) if config.task == "classification" else (),
        target_cost_per_1k={t: metrics.cost_per_1k([a.cost_usd for a in answered if a.target == t]) for t in targets},
        out_of_scope=slices.out_of_scope(scored, oos_label, local) if config.task == "classification" else None,
        misses=slices.misses(scored),
    )


def score_each(config: RouteConfig, outcomes: Sequence[Outcome]) -> list[Scored]:
    """Each outcome marked right or wrong: the named label (classification) or the whole JSON (extraction).

    Generation has no per-example verdict (BLEU and ROUGE are corpus scores): only errors count as misses.
    """
    labels = _labels(config, outcomes)
    scored = []
    for o in outcomes:
        text = o.answer.text if o.answer else None
        got = match_label(text, labels) if config.task == "classification" else text
        if o.answer is None:
            correct = False
        elif config.task == "classification":
            correct = got == o.example.expected
        elif config.task == "extraction":
            parsed = metrics.parse_json_object(text)
            correct = parsed is not None and metrics.flatten(parsed) == metrics.flatten(o.example.expected)
        else:
            correct = True
        target = o.answer.target if o.answer else ""
        scored.append(Scored(o.example.line, o.example.input, o.example.expected, got, target, correct, o.error))
    return scored


def _labels(config: RouteConfig, outcomes: Sequence[Outcome]) -> list[str]:
    return list(config.labels) if config.labels else sorted({o.example.expected for o in outcomes})


def _small_name(config: RouteConfig) -> str | None:
    try:
        return small_target(config)
    except VariantError:
        return None


def score(config: RouteConfig, outcomes: Sequence[Outcome]) -> TaskMetrics:
    expected = [o.example.expected for o in outcomes]
    texts = [o.answer.text if o.answer else None for o in outcomes]
    if config.task == "classification":
        labels = _labels(config, outcomes)
        return metrics.classification_metrics(expected, [match_label(t, labels) for t in texts])
    if config.task == "extraction":
        return metrics.extraction_metrics(expected, texts)
    return metrics.generation_metrics(expected, texts)


def match_label(text: str | None, labels: Sequence[str]) -> str | None:
    """The label *text* names, ignoring case and surrounding quotes, whitespace and periods.

    Anything else stays as written (and counts as wrong); None stays None.
    """
    if text is None:
        return None
    cleaned = text.strip(" \t\r\n\"'`.")
    by_key = {label.casefold(): label for label in labels}
    return by_key.get(cleaned.casefold(), cleaned)
