from __future__ import annotations

import pytest

from gateway.cache import CacheControl, cacheable, storable
from gateway.config.route_sections import CacheSettings
from tests.gateway.cache.conftest import completion, query


@pytest.mark.parametrize(
    ("params", "settings", "expected"),
    [
        ({"temperature": 0}, CacheSettings(), True),
        ({"temperature": 0.0, "seed": 1}, CacheSettings(), True),
        ({"temperature": 0.7}, CacheSettings(), False),
        ({}, CacheSettings(), False),
        ({"temperature": 0.7}, CacheSettings(cache_nonzero_temperature=True), True),
        ({}, CacheSettings(cache_nonzero_temperature=True), True),
        ({"temperature": 0}, CacheSettings(enabled=False), False),
    ],
)
def test_temperature_rule(params: dict, settings: CacheSettings, expected: bool) -> None:
    assert cacheable(query(params=params, settings=settings)) is expected


def test_no_store_is_never_cacheable() -> None:
    assert not cacheable(query(control=CacheControl.NO_STORE))
    assert cacheable(query(control=CacheControl.REFRESH))


def test_only_complete_answers_are_storable() -> None:
    assert storable(completion())
    assert storable(completion(finish_reason="length"))
    assert storable(completion(finish_reason="tool_calls"))
    assert not storable(completion(finish_reason=None))
    assert not storable(completion(finish_reason="error"))
    assert not storable({**completion(), "choices": []})
    assert not storable({"id": "x", "object": "chat.completion"})
    assert not storable({**completion(), "error": {"message": "upstream failed"}})


def test_route_thresholds() -> None:
    assert CacheSettings(semantic=False).threshold_for("classification") is None
    assert CacheSettings(semantic_threshold=0.5).threshold_for("generation") == 0.5
    defaults = CacheSettings()
    assert defaults.threshold_for("classification") < defaults.threshold_for("generation")
    assert defaults.threshold_for("unknown-task") == defaults.threshold_for("generation")
