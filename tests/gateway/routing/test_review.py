"""A cascade's review of the small answer, and the format check it starts with."""

from __future__ import annotations

import pytest

from gateway.config.policy import CascadePolicy
from gateway.routing import SmallAnswer, check_format, review

LABELS = ["card_arrival", "card_linking"]


def cascade(min_confidence: float | str = 0.8) -> CascadePolicy:
    return CascadePolicy(kind="cascade", small="small", large="large", min_confidence=min_confidence)


def test_confident_valid_answer_is_kept() -> None:
    verdict = review(cascade(), SmallAnswer("card_arrival", 0.93), LABELS, "classification")
    assert (verdict.target, verdict.escalated) == ("small", False)
    assert verdict.reason == "cascade: confidence 0.93 >= 0.80 -> small"


def test_low_confidence_escalates() -> None:
    verdict = review(cascade(), SmallAnswer("card_arrival", 0.62), LABELS, "classification")
    assert (verdict.target, verdict.escalated) == ("large", True)
    assert verdict.reason == "cascade: confidence 0.62 < 0.80 -> large"


def test_label_outside_the_set_escalates_even_when_confident() -> None:
    verdict = review(cascade(), SmallAnswer("pizza", 0.99), LABELS, "classification")
    assert verdict.escalated
    assert "label 'pizza' is not in the label set" in verdict.reason


def test_auto_uses_the_calibrated_threshold() -> None:
    kept = review(cascade("auto"), SmallAnswer("card_arrival", 0.7), LABELS, "classification", calibrated=0.65)
    assert not kept.escalated
    escalated = review(cascade("auto"), SmallAnswer("card_arrival", 0.6), LABELS, "classification", calibrated=0.65)
    assert escalated.escalated


def test_auto_without_a_calibrated_threshold_escalates() -> None:
    verdict = review(cascade("auto"), SmallAnswer("card_arrival", 0.99), LABELS, "classification")
    assert verdict.escalated
    assert "no calibrated threshold" in verdict.reason


def test_answer_without_confidence_passes_only_a_zero_bar() -> None:
    answer = SmallAnswer('{"name": "Ada"}')
    assert review(cascade(0.5), answer, [], "extraction").escalated
    assert not review(cascade(0.0), answer, [], "extraction").escalated


def test_invalid_json_escalates_an_extraction_route() -> None:
    verdict = review(cascade(0.0), SmallAnswer('{"name": "Ada"'), [], "extraction")
    assert verdict.escalated
    assert "invalid JSON" in verdict.reason


@pytest.mark.parametrize(
    ("task", "text", "labels", "problem"),
    [
        ("classification", " card_arrival\n", LABELS, None),
        ("classification", "other", LABELS, "not in the label set"),
        ("classification", "anything", [], None),
        ("classification", "  ", LABELS, "empty answer"),
        ("extraction", '{"a": 1}', [], None),
        ("extraction", "[1, 2]", [], None),
        ("extraction", '"just a string"', [], "not an object or array"),
        ("extraction", "```json\n{}\n```", [], "invalid JSON"),
        ("generation", "free text", [], None),
    ],
)
def test_check_format(task: str, text: str, labels: list[str], problem: str | None) -> None:
    found = check_format(task, text, labels)  # type: ignore[arg-type]
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
