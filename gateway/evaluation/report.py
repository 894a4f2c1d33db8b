"""The eval report: one self-contained HTML file with the table, the plots and what the run ran on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, select_autoescape

from gateway.evaluation import plots
from gateway.evaluation.metrics import ClassificationMetrics as Classification
from gateway.evaluation.provenance import Provenance
from gateway.evaluation.runner import VariantResult
from gateway.evaluation.slices import OutOfScope, TargetSlice
from gateway.gold import BadRow

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>ragway eval: {{ p.route }}</title>
<style>
 body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
 table { border-collapse: collapse; margin: 1rem 0; }
 th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
 th:first-child, td:first-child { text-align: left; }
 th { background: #f3f3f3; }
 img { max-width: 100%; }
 code { background: #f3f3f3; padding: 0 .2rem; }
 .meta td { text-align: left; }
 details { margin: 1rem 0; } summary { cursor: pointer; font-weight: 600; }
</style></head><body>
<h1>Eval of route <code>{{ p.route }}</code></h1>
<p>Run <code>{{ run_id }}</code>, {{ when }} UTC, {{ n }} gold examples
{%- if bad_rows %} ({{ bad_rows | length }} bad rows skipped){% endif %}.</p>
<table class="meta">
 <tr><th>route version</th><td><code>{{ p.route_version }}</code></td></tr>
 <tr><th>dataset</th><td><code>{{ p.dataset }}</code> sha256 <code>{{ p.dataset_checksum[:16] }}</code></td></tr>
 <tr><th>indexes</th><td>{% for k, v in p.index_versions.items() %}<code>{{ k }}={{ v }}</code> {% endfor %}</td></tr>
 <tr><th>models</th><td>{% for k, v in p.model_versions.items() %}<code>{{ k }}={{ v }}</code> {% endfor %}</td></tr>
</table>
<h2>Variants</h2>
<table>
 <tr><th>variant</th>{% for c in columns %}<th>{{ c }}</th>{% endfor %}<th>errors</th><th>answered by</th></tr>
 {% for r in rows %}<tr><td>{{ r.variant }}</td>{% for v in r.cells %}<td>{{ v }}</td>{% endfor %}
 <td>{{ r.errors }}</td><td>{{ r.share }}</td></tr>{% endfor %}
</table>
{% if targets %}<h2>Who answered, and how well</h2>
<p>Per variant and target: the share of gold examples it answered (coverage), its accuracy on them,
and answers outside the label set.</p>
<table><tr><th>variant</th><th>target</th><th>answered</th><th>coverage</th><th>accuracy</th><th>off-label</th></tr>
{% for t in targets %}<tr><td>{{ t.variant }}</td><td>{{ t.target }}</td><td>{{ t.n }}</td><td>{{ t.coverage }}</td>
<td>{{ t.accuracy }}</td><td>{{ t.off_label }}</td></tr>{% endfor %}</table>
{% for v in verdicts %}<p><strong>{{ v.variant }}</strong>: {{ v.text }}</p>{% endfor %}{% endif %}
<h2>{{ metric }} against cost</h2>
<img alt="{{ metric }} against cost per variant" src="data:image/png;base64,{{ scatter }}">
{% for s in sections %}
<details {% if loop.first %}open{% endif %}>
<summary>Variant {{ s.variant }}: confusion matrix and per-category scores</summary>
<img alt="confusion matrix, {{ s.variant }}" src="data:image/png;base64,{{ s.confusion }}">
<img alt="per-category precision, recall and F1, {{ s.variant }}" src="data:image/png;base64,{{ s.bars }}">
</details>
{% endfor %}
{% for m in misses %}
<details><summary>Variant {{ m.variant }}: {{ m.rows | length }} missed</summary>
<table><tr><th>line</th><th>input</th><th>expected</th><th>answer</th><th>target</th></tr>
{% for r in m.rows %}<tr><td>{{ r.line }}</td><td>{{ r.input }}</td><td>{{ r.expected }}</td>
<td>{{ r.error or r.got }}</td><td>{{ r.target }}</td></tr>{% endfor %}</table>
</details>
{% endfor %}
{% if bad_rows %}<h2>Bad rows skipped</h2><table><tr><th>line</th><th>reason</th></tr>
{% for b in bad_rows %}<tr><td>{{ b.line }}</td><td>{{ b.reason }}</td></tr>{% endfor %}</table>{% endif %}
</body></html>
"""


@dataclass(frozen=True)
class ReportInput:
    run_id: str
    provenance: Provenance
    metric: str
    results: Sequence[VariantResult]
    bad_rows: Sequence[BadRow] = ()
    ts: float = 0.0


def render(report: ReportInput) -> str:
    """The report as one HTML string with its plots embedded."""
    environment = Environment(autoescape=select_autoescape(default=True))
    columns = [name for name in report.results[0].scalars() if name != "error_rate"] if report.results else []
    return environment.from_string(TEMPLATE).render(
        p=report.provenance,
        run_id=report.run_id,
        when=datetime.fromtimestamp(report.ts, UTC).strftime("%Y-%m-%d %H:%M"),
        n=report.results[0].n if report.results else 0,
        metric=report.metric,
        columns=columns,
        rows=[_row(result, columns) for result in report.results],
        scatter=plots.quality_against_cost(report.results, report.metric),
        sections=[_section(r.variant, r.metrics) for r in report.results if isinstance(r.metrics, Classification)],
        bad_rows=report.bad_rows,
        targets=[_slice_row(r.variant, s) for r in report.results for s in r.by_target],
        verdicts=[v for r in report.results for v in _verdicts(r)],
        misses=[{"variant": r.variant, "rows": r.misses} for r in report.results if r.misses],
    )


def _slice_row(variant: str, part: TargetSlice) -> dict[str, object]:
    return {"variant": variant, "target": part.target, "n": part.n, "coverage": f"{part.coverage:.1%}",
            "accuracy": f"{part.accuracy:.1%}", "off_label": part.off_label}


def _verdicts(result: VariantResult) -> list[dict[str, str]]:
    found = []
    if result.escalation is not None:
        found.append({"variant": result.variant, "text": result.escalation.verdict()})
    if result.out_of_scope is not None:
        found.append({"variant": result.variant, "text": describe_oos(result.out_of_scope)})
    return found


def describe_oos(oos: OutOfScope) -> str:
    """One sentence on what happened to the out-of-scope rows."""
    return (f"{oos.answered_in_scope} of {oos.n} out-of-scope queries ('{oos.label}') got an in-scope label "
            f"({oos.rate:.1%}), {oos.answered_in_scope_locally} of them from the small model; "
            f"{oos.in_scope_called_oos} in-scope queries were called '{oos.label}'")


def write(report: ReportInput, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path


def _row(result: VariantResult, columns: Sequence[str]) -> dict[str, object]:
    scalars = result.scalars()
    share = ", ".join(f"{target} {value:.0%}" for target, value in result.target_share.items())
    return {
        "variant": result.variant,
        "cells": [format_metric(name, scalars[name]) for name in columns],
        "errors": result.errors,
        "share": share,
    }


def _section(variant: str, scores: Classification) -> dict[str, str]:
    return {
        "variant": variant,
        "confusion": plots.confusion_heatmap(scores, f"confusion matrix: {variant}"),
        "bars": plots.per_category_bars(scores, f"per-category precision / recall / F1: {variant}"),
    }


def format_metric(name: str, value: float) -> str:
    """Milliseconds as whole numbers, money with four decimals, BLEU on its 0-100 scale, shares as percent."""
    if name.endswith("_ms"):
        return f"{value:,.0f}"
    if name.endswith("_usd"):
        return f"${value:,.4f}"
    if name == "bleu":
        return f"{value:.1f}"
    return f"{value:.1%}"
