"""Typed fakes and small route builders for the evaluation unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.config.route import RouteConfig
from gateway.errors import UpstreamError
from gateway.evaluation.metrics import ClassificationMetrics
from gateway.evaluation.runner import Answer, Messages, VariantResult
from gateway.gold import GoldExample

GOLD = (
    GoldExample(2, "where is my card", "card_arrival"),
    GoldExample(3, "card not here yet", "card_arrival"),
    GoldExample(4, "exchange rate please", "exchange_rate"),
    GoldExample(5, "what rate do you use", "exchange_rate"),
)


def route_config(**overrides: Any) -> RouteConfig:
    data: dict[str, Any] = {
        "task": "classification",
        "system_prompt": "Answer with the intent label only.",
        "labels": ["card_arrival", "exchange_rate"],
        "targets": {"large": {"model": "smollm2"}, "small": {"classifier": "artifacts/banking77"}},
        "policy": {"kind": "fixed", "target": "large"},
        "retrieval": {"examples": {"index": "banking77-examples", "k": 6}},
    }
    data.update(overrides)
    return RouteConfig.model_validate(data)


class FakeAnswerFn:
    """Answers from per-target tables; records the configs it saw and the peak number in flight."""

    def __init__(
        self,
        answers: Mapping[str, Mapping[str, str]],
        latency_ms: Mapping[str, float] | None = None,
        cost_usd: Mapping[str, float] | None = None,
        failing_inputs: frozenset[str] = frozenset(),
    ) -> None:
        self.answers = answers
        self.latency_ms = latency_ms or {}
        self.cost_usd = cost_usd or {}
        self.failing_inputs = failing_inputs
        self.configs: list[RouteConfig] = []
        self.in_flight = 0
        self.peak = 0

    async def __call__(self, config: RouteConfig, messages: Messages) -> Answer:
        self.configs.append(config)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        text = messages[-1]["content"]
        if text in self.failing_inputs:
            raise UpstreamError("upstream said no")
        target = config.policy.target_names()[0]
        return Answer(
            text=self.answers[target].get(text, "no idea"),
            target=target,
            latency_ms=self.latency_ms.get(target, 10.0),
            cost_usd=self.cost_usd.get(target, 0.0),
            tokens_in=len(text.split()),
            tokens_out=1,
        )


def result_with(
    variant: str, accuracy: float, n: int = 600, p95_ms: float = 300.0, cost_per_1k: float = 1.0
) -> VariantResult:
    """A scored variant with the given headline numbers (the per-category detail left empty)."""
    scores = ClassificationMetrics(accuracy, accuracy, (), (), (), ())
    return VariantResult(variant, n, 0, scores, p95_ms / 2, p95_ms, cost_per_1k, {"large": 1.0})


GATEWAY_YAML = """
models:
  smollm2:
    model: openai/smollm2
    api_base: http://127.0.0.1:8081/v1
"""

ROUTE_YAML = """
task: classification
system_prompt: Answer with the intent label only.
labels: [card_arrival, exchange_rate]
targets:
  large: {model: smollm2}
  small: {classifier: artifacts/banking77}
policy: {kind: fixed, target: {target}}
retrieval:
  examples: {index: banking77-examples, k: 6}
eval:
  data: gold.csv
  columns: {input: text, expected: category}
  gate: {metric: accuracy, min: 0.9, min_examples: 4}
"""


def write_config(root: Path, target: str = "large") -> Path:
    """A config dir under *root* (with gold.csv beside it) whose banking77 route is fixed on *target*."""
    configs = root / "configs"
    (configs / "routes").mkdir(parents=True, exist_ok=True)
    (configs / "gateway.yaml").write_text(GATEWAY_YAML, encoding="utf-8")
    (configs / "routes" / "banking77.yaml").write_text(ROUTE_YAML.replace("{target}", target), encoding="utf-8")
    rows = "".join(f'"{e.input}",{e.expected}\n' for e in GOLD)
    (root / "gold.csv").write_text("text,category\n" + rows, encoding="utf-8")
    return configs
