"""The deployment gate's verdict: does an eval result clear the route's threshold.

    verdict = evaluate_gate(result, route.config.eval.gate)         # `ragway eval --gate`
    promotion = decide(route, version, verdict, force)              # recorded in the eval database

The gateway reads the recorded promotions on reload through `gateway.promotion.gate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.config.route_sections import GateSettings
from gateway.promotion.promotions import Promotion

if TYPE_CHECKING:
    from gateway.evaluation.runner import VariantResult


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    message: str


def evaluate_gate(result: VariantResult, gate: GateSettings) -> GateVerdict:
    """Pass when the result has at least `min_examples` examples and `metric` >= `min`."""
    measured = result.scalars()
    if gate.metric not in measured:
        known = ", ".join(sorted(measured))
        return GateVerdict(False, f"gate metric '{gate.metric}' is not measured for this task (measured: {known})")
    if result.n < gate.min_examples:
        return GateVerdict(False, f"only {result.n} gold examples; the gate needs at least {gate.min_examples}")
    value = measured[gate.metric]
    relation = ">=" if value >= gate.min else "<"
    message = f"{gate.metric} {value:.4f} {relation} {gate.min:.4f} on {result.n} examples ({result.variant})"
    return GateVerdict(value >= gate.min, message)


def decide(route: str, version: str, verdict: GateVerdict, force: bool = False) -> Promotion:
    """Promoted on a pass; forced when the user overrides a failure; refused otherwise."""
    if verdict.passed:
        return Promotion(route, version, "promoted", verdict.message)
    if force:
        return Promotion(route, version, "forced", f"forced past a failed gate: {verdict.message}")
    return Promotion(route, version, "refused", verdict.message)
