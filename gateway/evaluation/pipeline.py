"""One eval, start to end: run the variants, note what they ran on, store the run in the history.

`ragway eval` and the gateway's gated reload both go through `evaluate`, so a gate verdict at
reload time and one on the command line come from the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.progress import Progress

from gateway.config.snapshot import ConfigSnapshot, Route
from gateway.evaluation.dataset import DatasetError, GoldSet, load_gold
from gateway.evaluation.gate import GateVerdict, RunGate, evaluate_gate
from gateway.evaluation.history import EvalHistory
from gateway.evaluation.provenance import Provenance, collect, resolve_path
from gateway.evaluation.runner import AnswerFn, VariantResult, run_variants


@dataclass(frozen=True)
class EvalRun:
    run_id: str
    provenance: Provenance
    results: list[VariantResult]

    def result(self, variant: str) -> VariantResult:
        return next(r for r in self.results if r.variant == variant)


async def evaluate(
    snapshot: ConfigSnapshot,
    route: Route,
    answer: AnswerFn,
    variants: Sequence[str],
    gold: GoldSet,
    progress: Progress,
    history: EvalHistory,
    concurrency: int = 4,
) -> EvalRun:
    """Every variant of *route* over *gold*, recorded in *history* with the versions it ran on."""
    results = await run_variants(answer, route.config, variants, gold.examples, progress, concurrency)
    provenance = collect(snapshot, route, gold.path, gold.checksum)
    return EvalRun(history.record(provenance, results), provenance, results)


def route_gold(snapshot: ConfigSnapshot, route: Route) -> GoldSet:
    """The gold set the route's `eval:` section names (a relative path is taken from the config dir's parent)."""
    settings = route.config.eval
    if settings is None:
        raise DatasetError(f"route '{route.name}' has no eval section (set eval.data in {route.path})")
    return load_gold(resolve_path(snapshot, settings.data), route.config.task, settings.columns)


def gate_runner(snapshot: ConfigSnapshot, answer: AnswerFn, history: EvalHistory, concurrency: int = 4) -> RunGate:
    """The `run_gate` the gateway's reload hands to `gate_route_edit`: the route as written, on its gold set."""

    async def run(route: Route) -> GateVerdict:
        settings = route.config.eval
        if settings is None or settings.gate is None:
            return GateVerdict(True, "route has no gate")
        try:
            gold = route_gold(snapshot, route)
        except DatasetError as exc:
            return GateVerdict(False, str(exc))
        with Progress(disable=True) as progress:
            run = await evaluate(snapshot, route, answer, ["route"], gold, progress, history, concurrency)
        return evaluate_gate(run.result("route"), settings.gate)

    return run
