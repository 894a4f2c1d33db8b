"""One eval, start to end: run the variants, note what they ran on, store the run in the history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.progress import Progress

from gateway.config.snapshot import ConfigSnapshot, Route
from gateway.evaluation.history import EvalHistory
from gateway.evaluation.provenance import Provenance, collect, route_labels
from gateway.evaluation.runner import AnswerFn, VariantResult, run_variants
from gateway.gold import GoldSet


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
    oos_label: str | None = None,
) -> EvalRun:
    """Every variant of *route* over *gold*, recorded in *history* with the versions it ran on."""
    # off-label means outside the route's label set, not outside the labels a --limit sample happens to hold
    labels = route_labels(snapshot, route.config)
    config = route.config.model_copy(update={"labels": labels}) if labels else route.config
    results = await run_variants(answer, config, variants, gold.examples, progress, concurrency, oos_label)
    provenance = collect(snapshot, route, gold.path, gold.checksum)
    return EvalRun(history.record(provenance, results), provenance, results)
