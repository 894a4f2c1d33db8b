"""Variants are overrides of the route config: policy, targets and retrieval, never copies of code."""

from __future__ import annotations

import pytest

from gateway.config import policy as policy_module
from gateway.config.route import ClassifierTarget
from gateway.evaluation.variants import VariantError, build_variant, parse_variants, with_small_model
from tests.gateway.evaluation.fakes import route_config


def test_prompt_turns_retrieval_off_and_fixes_the_large_target() -> None:
    built = build_variant("prompt", route_config())

    assert built.retrieval.examples is None and built.retrieval.documents is None
    assert (built.policy.kind, built.policy.target_names()) == ("fixed", ["large"])
    assert built.cache.enabled is False


def test_rag_keeps_retrieval_and_fixes_the_large_target() -> None:
    route = route_config(policy={"kind": "fixed", "target": "small"})

    built = build_variant("rag", route)

    assert built.retrieval == route.retrieval
    assert built.policy.target_names() == ["large"]


def test_small_fixes_the_classifier_target_and_leaves_the_rest() -> None:
    route = route_config()

    built = build_variant("small", route)

    assert built.policy.target_names() == ["small"]
    assert built.system_prompt == route.system_prompt
    assert built.labels == route.labels


def test_route_variant_is_the_route_as_written_without_cache() -> None:
    route = route_config()

    built = build_variant("route", route)

    assert built.model_copy(update={"cache": route.cache}) == route
    assert built.cache.enabled is False


def test_targets_found_by_kind_when_not_named_large_and_small() -> None:
    route = route_config(
        targets={"gpt": {"model": "smollm2"}, "head": {"classifier": "artifacts/b77"}},
        policy={"kind": "fixed", "target": "gpt"},
    )

    assert build_variant("prompt", route).policy.target_names() == ["gpt"]
    assert build_variant("small", route).policy.target_names() == ["head"]


def test_rag_without_retrieval_and_small_without_a_classifier_are_refused() -> None:
    bare = route_config(retrieval={}, targets={"large": {"model": "smollm2"}})

    with pytest.raises(VariantError, match="needs retrieval"):
        build_variant("rag", bare)
    with pytest.raises(VariantError, match="cannot tell which target is the small model"):
        build_variant("small", bare)


@pytest.mark.skipif(not hasattr(policy_module, "CascadePolicy"), reason="the cascade policy lands with routing")
def test_cascade_puts_small_first_and_large_second() -> None:
    built = build_variant("cascade", route_config())

    assert built.policy.kind == "cascade"
    assert built.policy.target_names() == ["small", "large"]


def test_parse_variants_keeps_order_drops_duplicates_and_names_unknown_ones() -> None:
    assert parse_variants("prompt, rag,prompt") == ["prompt", "rag"]
    with pytest.raises(VariantError, match=r"unknown variant.*bogus.*known: route, prompt, rag, small, cascade"):
        parse_variants("prompt,bogus")


def test_a_route_without_a_small_model_borrows_the_finetuned_classifier() -> None:
    route = route_config(targets={"large": {"model": "smollm2"}})

    borrowed = with_small_model(route, "/abs/artifacts/banking77")

    assert borrowed.targets["small"] == ClassifierTarget(classifier="/abs/artifacts/banking77")
    assert build_variant("cascade", borrowed).policy.target_names() == ["small", "large"]
    assert borrowed.policy == route.policy and borrowed.retrieval == route.retrieval


def test_a_route_with_its_own_small_model_keeps_it() -> None:
    route = route_config()

    assert with_small_model(route, "/elsewhere") is route
