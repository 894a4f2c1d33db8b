from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gateway.cache import CacheControl, CacheLookup, CacheQuery, StoredAnswer, parse_cache_control
from gateway.config.route_sections import CacheSettings
from gateway.errors import InvalidRequest


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, CacheControl.NORMAL),
        ({"Cache-Control": "no-cache"}, CacheControl.REFRESH),
        ({"cache-control": "max-age=0"}, CacheControl.REFRESH),
        ({"Cache-Control": "no-store"}, CacheControl.NO_STORE),
        ({"Cache-Control": "private, No-Store"}, CacheControl.NO_STORE),
        ({"Cache-Control": "no-cache, no-store"}, CacheControl.NO_STORE),
        ({"Cache-Control": "max-age=60"}, CacheControl.NORMAL),
        ({"x-ragway-cache": "refresh"}, CacheControl.REFRESH),
        ({"X-Ragway-Cache": "no-store"}, CacheControl.NO_STORE),
        ({"x-ragway-cache": "bypass"}, CacheControl.NO_STORE),
        ({"Cache-Control": "no-store", "x-ragway-cache": "refresh"}, CacheControl.NO_STORE),
        ({"Cache-Control": "no-cache", "x-ragway-cache": "bypass"}, CacheControl.NO_STORE),
    ],
)
def test_parse_cache_control(headers: dict[str, str], expected: CacheControl) -> None:
    assert parse_cache_control(headers) is expected


def test_unknown_ragway_value_is_a_client_error() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_cache_control({"x-ragway-cache": "sometimes"})
    assert caught.value.param == "x-ragway-cache"


@pytest.mark.parametrize(
    ("lookup", "header"),
    [
        (CacheLookup("hit", StoredAnswer({}), None, "k"), "hit"),
        (CacheLookup("semantic-hit", StoredAnswer({}), 0.97312, "k"), "semantic-hit;score=0.973"),
        (CacheLookup("miss", None, None, "k"), "miss"),
        (CacheLookup("bypass", None, None, ""), "bypass"),
    ],
)
def test_header(lookup: CacheLookup, header: str) -> None:
    assert lookup.header() == header


def test_with_vector_adds_the_vector_and_keeps_a_query_without_one() -> None:
    query = CacheQuery(route="r", route_version="v", index_versions=(), messages=[], params={}, vector=None,
                       settings=CacheSettings())
    vector = np.ones(4, dtype=np.float32)

    assert query.with_vector(None) is query
    with_vector = query.with_vector(vector)
    assert with_vector.vector is vector
    assert with_vector == replace(query, vector=vector)
    uncached = replace(query, settings=CacheSettings(enabled=False))
    assert uncached.with_vector(vector) is uncached
