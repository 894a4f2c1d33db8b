"""The deployment gate: does an eval result clear the route's threshold, and which version serves then.

    verdict = evaluate_gate(result, route.config.eval.gate)
    serving = await gate_route_edit(candidate, running, run_gate, promotions)

A refused version never replaces the running one; `--force` records the version as forced, and
the next reload serves it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.config.route_sections import GateSettings
from gateway.config.snapshot import Route
from gateway.evaluation.promotions import Promotion, PromotionStore
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


RunGate = Callable[[Route], Awaitable[GateVerdict]]


async def gate_route_edit(
    candidate: Route, running: Route | None, run_gate: RunGate, promotions: PromotionStore
) -> Route:
    """The version that should serve after *candidate* (an edited route file) was loaded.

    Ungated routes, first loads and already-promoted versions serve at once. A version decided
    before is not evaluated again: refused stays refused until forced. Otherwise *run_gate*
    evaluates it and the decision is recorded.
    """
    gated = candidate.config.eval is not None and candidate.config.eval.gate is not None
    if not gated or running is None or running.version == candidate.version:
        return candidate
    known = promotions.decision(candidate.name, candidate.version)
    if known is None:
        known = promotions.record(decide(candidate.name, candidate.version, await run_gate(candidate)))
    return candidate if known.servable else running
