"""The eval report's figures, drawn with matplotlib off-screen and returned as base64 PNG.

Embedded in the HTML, so the report opens anywhere with no network and no files beside it.
Figures are built with the object API (no pyplot), so no GUI backend or global figure state is used.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from gateway.evaluation.metrics import ClassificationMetrics
from gateway.evaluation.runner import VariantResult

DPI = 96


def quality_against_cost(results: Sequence[VariantResult], metric: str) -> str:
    """One point per variant: *metric* up, cost per 1,000 requests across."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for result in results:
        x, y = result.cost_per_1k_usd, result.scalars()[metric]
        ax.scatter([x], [y], s=70, zorder=3)
        ax.annotate(result.variant, (x, y), textcoords="offset points", xytext=(7, 5))
    ax.set_xlabel("cost per 1,000 requests (USD)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against cost, per variant")
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.25, y=0.15)
    return _png(fig)


def confusion_heatmap(scores: ClassificationMetrics, title: str) -> str:
    """Rows are gold labels, columns predictions, each row normalised to its share of the label's examples."""
    matrix = np.asarray(scores.confusion, dtype=float)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(18.0, 3.0 + 0.17 * len(scores.columns))
    fig = Figure(figsize=(size, size * 0.92), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    font = max(4, 10 - len(scores.columns) // 12)
    ax.set_xticks(range(len(scores.columns)), scores.columns, rotation=90, fontsize=font)
    ax.set_yticks(range(len(scores.labels)), scores.labels, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.03, label="share of the gold label")
    return _png(fig)


def per_category_bars(scores: ClassificationMetrics, title: str) -> str:
    """Precision, recall and F1 per category, one row per label, sorted worst F1 first."""
    ranked = sorted(scores.per_category, key=lambda s: (s.f1, s.label))
    positions = np.arange(len(ranked))
    fig = Figure(figsize=(8.0, 1.2 + 0.3 * len(ranked)), layout="constrained")
    ax = fig.subplots()
    height = 0.27
    for offset, name in ((-height, "precision"), (0.0, "recall"), (height, "f1")):
        ax.barh(positions + offset, [getattr(s, name) for s in ranked], height=height, label=name)
    ax.set_yticks(positions, [s.label for s in ranked], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(len(ranked) - 0.5, -0.5)
    fig.suptitle(title)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False)
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
