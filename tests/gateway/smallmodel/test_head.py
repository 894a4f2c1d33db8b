"""ClassifierHead: numpy predictions that match sklearn's, with the calibration temperature applied."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from gateway.smallmodel import ClassifierHead


def blobs(classes: int, per_class: int = 40, dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(classes, dim)) * 3
    x = np.vstack([centres[c] + rng.normal(size=(per_class, dim)) for c in range(classes)]).astype(np.float32)
    y = np.repeat([f"label{c}" for c in range(classes)], per_class)
    return x, y


@pytest.mark.parametrize("classes", [2, 5])
def test_predictions_match_sklearn(classes: int) -> None:
    x, y = blobs(classes)
    model = LogisticRegression(max_iter=500).fit(x, y)
    head = ClassifierHead.from_coefficients(model.coef_, model.intercept_, list(model.classes_))
    expected = model.predict_proba(x)
    assert np.allclose(head.probabilities(x), expected, atol=1e-4)
    for row, probs in zip(x[:20], expected[:20], strict=True):
        prediction = head.predict(row)
        assert prediction.label == model.classes_[probs.argmax()]
        assert prediction.confidence == pytest.approx(probs.max(), abs=1e-4)


def test_temperature_softens_or_sharpens_confidence() -> None:
    x, y = blobs(3)
    model = LogisticRegression(max_iter=500).fit(x, y)
    labels = list(model.classes_)
    plain = ClassifierHead.from_coefficients(model.coef_, model.intercept_, labels)
    soft = ClassifierHead.from_coefficients(model.coef_, model.intercept_, labels, temperature=4.0)
    sharp = ClassifierHead.from_coefficients(model.coef_, model.intercept_, labels, temperature=0.5)
    row = x[0]
    assert soft.predict(row).label == plain.predict(row).label == sharp.predict(row).label
    assert soft.predict(row).confidence < plain.predict(row).confidence < sharp.predict(row).confidence


def test_shapes_must_fit_the_labels() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        ClassifierHead(np.zeros((4, 3)), np.zeros(3), ["a", "b"])


def test_no_threshold_without_an_artifact() -> None:
    head = ClassifierHead(np.zeros((4, 2)), np.zeros(2), ["a", "b"])
    assert head.threshold is None
    assert head.dim == 4
