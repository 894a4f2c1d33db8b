"""The HTML report: one self-contained file with the table, embedded PNG plots and the provenance."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from gateway.evaluation import plots, report
from gateway.evaluation.metrics import classification_metrics
from gateway.evaluation.provenance import Provenance
from gateway.evaluation.runner import VariantResult
from gateway.gold import BadRow

PNG = b"\x89PNG\r\n\x1a\n"


def result(variant: str, predicted: list[str], cost: float) -> VariantResult:
    scores = classification_metrics(["a", "a", "<b>", "<b>"], predicted)
    return VariantResult(variant, 4, 0, scores, 10.0, 20.0, cost, {"large": 1.0})


def test_report_embeds_plots_table_and_provenance(tmp_path: Path) -> None:
    provenance = Provenance("banking77", "abc123", {"ex": "0f0f"}, {"large": "openai/smollm2"}, "gold.csv", "d" * 64)
    results = [result("prompt", ["a", "a", "a", "<b>"], 2.0), result("small", ["a", "<b>", "<b>", "<b>"], 0.0)]
    reported = report.ReportInput("run1", provenance, "accuracy", results, (BadRow(7, "'text' is missing"),), 0.0)

    path = report.write(reported, tmp_path / "r" / "report.html")

    html = path.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 1 + 2 * 2
    assert all(base64.b64decode(image).startswith(PNG) for image in images)
    assert "<td>75.0%</td>" in html and "<td>$2.0000</td>" in html
    assert "abc123" in html and "ex=0f0f" in html and "dddddddddddddddd" in html
    assert "<td>7</td><td>&#39;text&#39; is missing</td>" in html


def test_format_metric_by_kind() -> None:
    assert report.format_metric("p95_ms", 1234.4) == "1,234"
    assert report.format_metric("cost_per_1k_usd", 0.12345) == "$0.1235"
    assert report.format_metric("bleu", 27.345) == "27.3"
    assert report.format_metric("accuracy", 0.8867) == "88.7%"


def test_plots_are_png_for_every_figure() -> None:
    scores = classification_metrics(["x", "y", "y"], ["x", "y", "z"])

    for encoded in (plots.confusion_heatmap(scores, "c"), plots.per_category_bars(scores, "p")):
        assert base64.b64decode(encoded).startswith(PNG)
