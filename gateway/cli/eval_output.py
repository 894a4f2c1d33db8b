"""What `ragway eval` prints: the variants table, who answered how well, and the same as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.table import Table

from gateway.evaluation import report
from gateway.evaluation.history import HistoryEntry
from gateway.evaluation.pipeline import EvalRun
from gateway.evaluation.runner import VariantResult


def results_table(results: Sequence[VariantResult], title: str) -> Table:
    """One row per variant: task metrics, latency, cost per 1,000 requests, errors and who answered."""
    table = Table(title=title)
    columns = [name for name in results[0].scalars() if name != "error_rate"] if results else []
    table.add_column("variant")
    for name in columns:
        table.add_column(name, justify="right")
    table.add_column("errors", justify="right")
    table.add_column("answered by")
    for result in results:
        scalars = result.scalars()
        share = ", ".join(f"{target} {value:.0%}" for target, value in result.target_share.items())
        values = [report.format_metric(name, scalars[name]) for name in columns]
        table.add_row(result.variant, *values, str(result.errors), share)
    return table


def targets_table(results: Sequence[VariantResult]) -> Table | None:
    """Per variant and target: answered, coverage, accuracy on its own answers, off-label answers.

    For a cascade the small target's row is the answers kept local and the large target's the
    escalated ones; the variants table above holds the overall figure.
    """
    rows = [(r.variant, part) for r in results for part in r.by_target]
    if not rows:
        return None
    table = Table(title="who answered, and how well")
    for column in ("variant", "target", "answered", "coverage", "accuracy", "off-label", "cost per 1k"):
        table.add_column(column, justify="left" if column in ("variant", "target") else "right")
    costs = {r.variant: r.target_cost_per_1k for r in results}
    for variant, part in rows:
        cost = costs[variant].get(part.target, 0.0)
        table.add_row(variant, part.target, f"{part.n:,}", f"{part.coverage:.1%}", f"{part.accuracy:.1%}",
                      str(part.off_label), report.format_metric("cost_per_1k_usd", cost))
    return table


def verdict_lines(results: Sequence[VariantResult]) -> list[str]:
    """The escalation and out-of-scope findings, one line each."""
    lines = []
    for result in results:
        if result.escalation is not None:
            colour = "green" if result.escalation.helps else "yellow"
            lines.append(f"[{colour}]{result.variant}: {result.escalation.verdict()}[/]")
        if result.out_of_scope is not None:
            lines.append(f"{result.variant}: {report.describe_oos(result.out_of_scope)}")
    return lines


def run_json(run: EvalRun, route: str, report_path: str) -> str:
    """The run as one JSON document: per variant its metrics, shares, slices and misses."""
    return json.dumps(
        {
            "run_id": run.run_id,
            "route": route,
            "report": report_path,
            "provenance": asdict(run.provenance),
            "variants": [_result_dict(r) for r in run.results],
        },
        indent=2,
    )


def _result_dict(result: VariantResult) -> dict[str, Any]:
    return {
        "variant": result.variant,
        "n": result.n,
        "errors": result.errors,
        "metrics": result.scalars(),
        "target_share": result.target_share,
        **result.details(),
        "misses": [
            {"line": m.line, "input": m.input, "expected": m.expected, "got": m.got, "target": m.target,
             "error": m.error}
            for m in result.misses
        ],
    }


def history_json(entries: Sequence[HistoryEntry]) -> str:
    return json.dumps([entry.as_dict() for entry in entries], indent=2)
