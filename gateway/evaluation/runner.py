"""Run gold examples through an answer function, one variant at a time, and score what came back.

The answer function is the gateway's own request path (the service supplies it), so an eval
measures exactly what users get: retrieval, policy, targets, latency and cost included.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

from rich.progress import Progress

from gateway.config.route import RouteConfig
from gateway.errors import GatewayError
from gateway.evaluation import metrics
from gateway.evaluation.dataset import GoldExample
from gateway.evaluation.metrics import TaskMetrics
from gateway.evaluation.variants import build_variant


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

    def scalars(self) -> dict[str, float]:
        """Task metrics plus latency, cost and error rate, flat by name."""
        return {
            **self.metrics.scalars(),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "cost_per_1k_usd": self.cost_per_1k_usd,
            "error_rate": self.errors / self.n if self.n else 0.0,
        }


async def run_variants(
    answer: AnswerFn,
    route: RouteConfig,
    variants: Sequence[str],
    gold: Sequence[GoldExample],
    progress: Progress,
    concurrency: int = 4,
) -> list[VariantResult]:
    """Each variant of *route* over every gold example, with one progress bar per variant."""
    results = []
    for name in variants:
        config = build_variant(name, route)
        task = progress.add_task(f"{name:<8}", total=len(gold))
        outcomes = await run_examples(answer, config, gold, concurrency, partial(progress.advance, task))
        results.append(summarize(name, config, outcomes))
    return results


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


def summarize(variant: str, config: RouteConfig, outcomes: Sequence[Outcome]) -> VariantResult:
    """Score *outcomes* by the route's task, with latency, cost and target shares over the answered ones."""
    answered = [o.answer for o in outcomes if o.answer is not None]
    latencies = [a.latency_ms for a in answered]
    targets = Counter(a.target for a in answered)
    n = len(outcomes)
    return VariantResult(
        variant=variant,
        n=n,
        errors=n - len(answered),
        metrics=score(config, outcomes),
        p50_ms=metrics.percentile(latencies, 50),
        p95_ms=metrics.percentile(latencies, 95),
        cost_per_1k_usd=metrics.cost_per_1k([a.cost_usd for a in answered]),
        target_share={target: count / n for target, count in targets.most_common()},
    )


def score(config: RouteConfig, outcomes: Sequence[Outcome]) -> TaskMetrics:
    expected = [o.example.expected for o in outcomes]
    texts = [o.answer.text if o.answer else None for o in outcomes]
    if config.task == "classification":
        labels = config.labels or sorted(set(expected))
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
