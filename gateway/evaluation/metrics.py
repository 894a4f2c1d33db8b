"""Scores for one eval run: task metrics by task type, plus latency and cost from the same answers.

Every task's metrics expose `scalars()`, the flat name -> value map that gates, history and
tables read, so nothing downstream needs to know which task produced them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

OTHER = "(other)"


@dataclass(frozen=True)
class CategoryScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationMetrics:
    """`confusion[i][j]` counts gold `labels[i]` predicted as `columns[j]`.

    `columns` is `labels`, plus `(other)` when some prediction was outside the gold label set.
    """

    accuracy: float
    macro_f1: float
    per_category: tuple[CategoryScore, ...]
    labels: tuple[str, ...]
    columns: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]

    def scalars(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1}


@dataclass(frozen=True)
class ExtractionMetrics:
    """Field scores are micro-averaged over flattened (path, value) pairs.

    `partial_match_rate` is the share of examples that are not exact matches yet get at least one field right.
    """

    exact_match: float
    field_precision: float
    field_recall: float
    field_f1: float
    partial_match_rate: float
    invalid_json_rate: float

    def scalars(self) -> dict[str, float]:
        return {
            "exact_match": self.exact_match,
            "field_precision": self.field_precision,
            "field_recall": self.field_recall,
            "field_f1": self.field_f1,
            "partial_match_rate": self.partial_match_rate,
            "invalid_json_rate": self.invalid_json_rate,
        }


@dataclass(frozen=True)
class GenerationMetrics:
    """`bleu` is corpus BLEU on sacrebleu's 0-100 scale; `rouge_l` the mean ROUGE-L F-measure (0-1)."""

    bleu: float
    rouge_l: float

    def scalars(self) -> dict[str, float]:
        return {"bleu": self.bleu, "rouge_l": self.rouge_l}


TaskMetrics = ClassificationMetrics | ExtractionMetrics | GenerationMetrics

PRIMARY_METRIC = {"classification": "accuracy", "extraction": "exact_match", "generation": "rouge_l"}


def classification_metrics(expected: Sequence[str], predicted: Sequence[str | None]) -> ClassificationMetrics:
    """Accuracy, macro-F1 over the gold labels, per-category P/R/F1 and the confusion matrix.

    A missing or out-of-set prediction is wrong; it counts against the gold label's recall only.
    """
    labels = sorted(set(expected))
    known = set(labels)
    mapped = [p if p in known else OTHER for p in predicted]
    precision, recall, f1, support = precision_recall_fscore_support(
        expected, mapped, labels=labels, zero_division=0
    )
    columns = [*labels, OTHER] if OTHER in mapped else labels
    matrix = confusion_matrix(expected, mapped, labels=columns)[: len(labels)]
    per_category = tuple(
        CategoryScore(label, float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    )
    return ClassificationMetrics(
        accuracy=float(accuracy_score(expected, mapped)),
        macro_f1=float(np.mean(f1)) if labels else 0.0,
        per_category=per_category,
        labels=tuple(labels),
        columns=tuple(columns),
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
    )


def extraction_metrics(expected: Sequence[Mapping[str, Any]], predicted: Sequence[str | None]) -> ExtractionMetrics:
    """Whole-JSON exact match and field-level scores; predictions are the model's raw text."""
    exact = partial = invalid = hits = n_pred = n_gold = 0
    for gold, text in zip(expected, predicted, strict=True):
        parsed = parse_json_object(text)
        invalid += parsed is None
        gold_fields = flatten(gold)
        pred_fields = flatten(parsed or {})
        matched = len(gold_fields.items() & pred_fields.items())
        hits, n_pred, n_gold = hits + matched, n_pred + len(pred_fields), n_gold + len(gold_fields)
        is_exact = parsed is not None and _canonical(parsed) == _canonical(gold)
        exact += is_exact
        partial += (not is_exact) and matched > 0
    n = len(expected)
    precision = hits / n_pred if n_pred else 0.0
    recall = hits / n_gold if n_gold else 0.0
    return ExtractionMetrics(
        exact_match=exact / n if n else 0.0,
        field_precision=precision,
        field_recall=recall,
        field_f1=_harmonic(precision, recall),
        partial_match_rate=partial / n if n else 0.0,
        invalid_json_rate=invalid / n if n else 0.0,
    )


def generation_metrics(expected: Sequence[str], predicted: Sequence[str | None]) -> GenerationMetrics:
    """Corpus BLEU (sacrebleu) and mean ROUGE-L F-measure (rouge-score); a missing answer scores as empty."""
    hypotheses = [p or "" for p in predicted]
    if not expected:
        return GenerationMetrics(bleu=0.0, rouge_l=0.0)
    bleu = sacrebleu.corpus_bleu(hypotheses, [list(expected)]).score
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rouge = [scorer.score(ref, hyp)["rougeL"].fmeasure for ref, hyp in zip(expected, hypotheses, strict=True)]
    return GenerationMetrics(bleu=float(bleu), rouge_l=float(np.mean(rouge)))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation (numpy's default); 0.0 for no values."""
    return float(np.percentile(values, q)) if len(values) else 0.0


def wilson_interval(share: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a share measured on *n* cases; (0, 1) for none."""
    if n <= 0:
        return 0.0, 1.0
    successes = min(n, max(0, round(share * n)))
    interval = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def cost_per_1k(costs: Sequence[float]) -> float:
    """Mean cost of one request, times 1,000."""
    return 1000.0 * sum(costs) / len(costs) if costs else 0.0


def parse_json_object(text: str | None) -> dict[str, Any] | None:
    """The JSON object in *text* (a fenced ```json block is unwrapped); None when it is not one."""
    if text is None:
        return None
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested objects as dotted paths; leaves (lists included) compared as canonical JSON."""
    fields: dict[str, str] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            fields.update(flatten(value, f"{path}."))
        else:
            fields[path] = _canonical(value)
    return fields


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b else 0.0
