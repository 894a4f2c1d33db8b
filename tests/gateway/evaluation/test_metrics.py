"""Each metric against values computed by hand on small cases."""

from __future__ import annotations

import math

import pytest

from gateway.evaluation import metrics


def test_classification_hand_computed() -> None:
    expected = ["a", "a", "b", "b", "c"]
    predicted = ["a", "b", "b", "b", "zzz"]

    m = metrics.classification_metrics(expected, predicted)

    assert m.accuracy == pytest.approx(3 / 5)
    by_label = {s.label: s for s in m.per_category}
    # a: TP 1, FN 1, FP 0; b: TP 2, FP 1; c: never predicted
    assert (by_label["a"].precision, by_label["a"].recall, by_label["a"].f1) == pytest.approx((1.0, 0.5, 2 / 3))
    assert (by_label["b"].precision, by_label["b"].recall, by_label["b"].f1) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (by_label["c"].precision, by_label["c"].recall, by_label["c"].f1) == (0.0, 0.0, 0.0)
    assert [s.support for s in m.per_category] == [2, 2, 1]
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.8 + 0.0) / 3)
    assert m.columns == ("a", "b", "c", metrics.OTHER)
    assert m.confusion == ((1, 1, 0, 0), (0, 2, 0, 0), (0, 0, 0, 1))


def test_classification_missing_answer_counts_wrong_and_no_other_column_when_unneeded() -> None:
    m = metrics.classification_metrics(["x", "y"], ["x", None])

    assert m.accuracy == 0.5
    assert m.columns == ("x", "y", metrics.OTHER)

    perfect = metrics.classification_metrics(["x", "y"], ["x", "y"])
    assert perfect.columns == ("x", "y")
    assert perfect.confusion == ((1, 0), (0, 1))
    assert perfect.scalars() == {"accuracy": 1.0, "macro_f1": 1.0}


def test_extraction_hand_computed() -> None:
    expected = [
        {"name": "Ann", "age": 30},
        {"name": "Bob", "city": {"zip": "123", "town": "X"}},
        {"a": 1},
        {"a": [1, 2]},
    ]
    predicted = [
        '{"age": 30, "name": "Ann"}',
        '{"name": "Bob", "city": {"zip": "999"}, "extra": 1}',
        "not json",
        '```json\n{"a": [2, 1]}\n```',
    ]

    m = metrics.extraction_metrics(expected, predicted)

    # field hits 2 + 1 + 0 + 0 = 3; predicted fields 2 + 3 + 0 + 1 = 6; gold fields 2 + 3 + 1 + 1 = 7
    assert m.exact_match == 0.25
    assert m.field_precision == pytest.approx(3 / 6)
    assert m.field_recall == pytest.approx(3 / 7)
    assert m.field_f1 == pytest.approx(6 / 13)
    assert m.partial_match_rate == 0.25
    assert m.invalid_json_rate == 0.25


def test_flatten_uses_dotted_paths_and_canonical_leaves() -> None:
    assert metrics.flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": [1]}) == {"a.b": "1", "a.c.d": '"x"', "e": "[1]"}


def test_parse_json_object_rejects_non_objects() -> None:
    assert metrics.parse_json_object("[1, 2]") is None
    assert metrics.parse_json_object(None) is None
    assert metrics.parse_json_object(' {"k": 1} ') == {"k": 1}


def test_generation_bleu_brevity_penalty_by_hand() -> None:
    # every n-gram precision is 1; only the brevity penalty exp(1 - 7/6) applies
    m = metrics.generation_metrics(["the cat sat on the mat today"], ["the cat sat on the mat"])

    assert m.bleu == pytest.approx(100 * math.exp(1 - 7 / 6), abs=1e-6)


def test_generation_rouge_l_by_hand() -> None:
    # LCS "the cat on the mat" = 5 tokens: precision 5/5, recall 5/6, F = 10/11
    m = metrics.generation_metrics(["the cat sat on the mat"], ["the cat on the mat"])

    assert m.rouge_l == pytest.approx(10 / 11)


def test_generation_identical_and_missing() -> None:
    same = metrics.generation_metrics(["a quick brown fox jumps"], ["a quick brown fox jumps"])
    assert same.bleu == pytest.approx(100.0)
    assert same.rouge_l == pytest.approx(1.0)

    missing = metrics.generation_metrics(["a quick brown fox jumps"], [None])
    assert missing.scalars() == {"bleu": 0.0, "rouge_l": 0.0}


def test_percentiles_interpolate_linearly() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 100.0]

    assert metrics.percentile(values, 50) == 30.0
    # rank 0.95 * 4 = 3.8: 40 + 0.8 * (100 - 40)
    assert metrics.percentile(values, 95) == pytest.approx(88.0)
    assert metrics.percentile([], 95) == 0.0


def test_cost_per_thousand_requests() -> None:
    assert metrics.cost_per_1k([0.001, 0.002, 0.003]) == pytest.approx(2.0)
    assert metrics.cost_per_1k([]) == 0.0
