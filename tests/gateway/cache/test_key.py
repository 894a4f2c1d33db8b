from __future__ import annotations

import dataclasses

from gateway.cache import exact_key, semantic_scope
from tests.gateway.cache.conftest import query


def test_same_request_same_key() -> None:
    assert exact_key(query()) == exact_key(query())


def test_key_changes_with_route_file_and_index_versions() -> None:
    base = exact_key(query())
    assert exact_key(query(route="other")) != base
    assert exact_key(query(route_version="r2")) != base
    assert exact_key(query(index_versions=("ix2",))) != base
    assert exact_key(query(index_versions=("ix1", "docs1"))) != base
    assert exact_key(query(index_versions=())) != base


def test_key_changes_with_every_output_parameter() -> None:
    base_params = {"temperature": 0, "max_tokens": 64}
    base = exact_key(query(params=base_params))
    changes = [
        {"max_tokens": 65},
        {"top_p": 0.5},
        {"stop": ["\n"]},
        {"seed": 7},
        {"n": 2},
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {"tool_choice": "auto"},
        {"presence_penalty": 0.1},
    ]
    keys = {exact_key(query(params={**base_params, **change})) for change in changes}
    assert base not in keys
    assert len(keys) == len(changes)


def test_key_changes_with_messages() -> None:
    assert exact_key(query("a")) != exact_key(query("b"))
    assert exact_key(query("a")) != exact_key(query("a "))
    assert exact_key(query("a")) != exact_key(query("a", history=[{"role": "system", "content": "be brief"}]))


def test_normalisation_ignores_what_cannot_change_the_answer() -> None:
    base = query("café", params={"temperature": 0, "max_tokens": 64})
    same = dataclasses.replace(
        base,
        messages=[{"content": [{"type": "text", "text": "cafe\u0301"}], "role": "user", "name": None}],
        params={"max_tokens": 64.0, "temperature": 0.0, "stream": True, "user": "u1", "seed": None},
    )
    assert exact_key(same) == exact_key(base)


def test_semantic_scope_ignores_only_the_last_message() -> None:
    assert semantic_scope(query("a")) == semantic_scope(query("b"))
    history = [{"role": "system", "content": "be brief"}]
    assert semantic_scope(query("a", history=history)) != semantic_scope(query("a"))
    assert semantic_scope(query(params={"temperature": 0, "max_tokens": 1})) != semantic_scope(query())
    assert semantic_scope(query(route_version="r2")) != semantic_scope(query())
    assert semantic_scope(query()) != exact_key(query())
