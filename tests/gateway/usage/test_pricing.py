"""Prices from litellm's bundled map, config overrides, hourly local models, and token counts offline."""

from __future__ import annotations

import pytest

from gateway.config.gateway_file import ModelConfig
from gateway.config.route import RouteConfig
from gateway.usage.pricing import (
    approximate_tokens,
    fill_costs,
    large_cost,
    large_model,
    map_rates,
    price,
)
from gateway.usage.record import Latency
from tests.gateway.usage.conftest import make_record

# litellm's bundled map: gpt-4o-mini is $0.15 / $0.60 per million tokens.
MINI = ModelConfig(model="openai/gpt-4o-mini")


def test_map_price_for_a_known_model() -> None:
    assert map_rates("openai/gpt-4o-mini") == pytest.approx((0.15e-6, 0.60e-6))
    assert price(MINI, 1000, 500) == pytest.approx(1000 * 0.15e-6 + 500 * 0.60e-6)


def test_config_overrides_win_side_by_side() -> None:
    both = ModelConfig(model="openai/gpt-4o-mini", input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    assert price(both, 1000, 500) == pytest.approx(0.002)
    only_input = ModelConfig(model="openai/gpt-4o-mini", input_cost_per_token=1e-6)
    assert price(only_input, 1000, 500) == pytest.approx(0.001 + 500 * 0.60e-6)


def test_local_models_cost_per_hour_or_nothing() -> None:
    hourly = ModelConfig(model="openai/smollm2", api_base="http://127.0.0.1:8081/v1", cost_per_hour=0.72)
    assert price(hourly, 10_000, 10_000, upstream_seconds=5.0) == pytest.approx(0.72 * 5 / 3600)
    unpriced = ModelConfig(model="openai/smollm2", api_base="http://127.0.0.1:8081/v1")
    assert price(unpriced, 10_000, 10_000, upstream_seconds=5.0) == 0.0
    assert price(None, 10, 10) == 0.0


def test_counterfactual_cost_uses_the_routes_large_target() -> None:
    models = {"mini": MINI, "local": ModelConfig(model="openai/smollm2", cost_per_hour=0.0)}
    route = RouteConfig.model_validate(
        {"targets": {"large": {"model": "mini"}, "small": {"model": "local"}},
         "policy": {"kind": "fixed", "target": "small"}}
    )
    assert large_model(route, models) == MINI
    assert large_cost(route, models, 1000, 500) == pytest.approx(price(MINI, 1000, 500))
    no_large = RouteConfig.model_validate(
        {"targets": {"small": {"model": "local"}}, "policy": {"kind": "fixed", "target": "small"}}
    )
    assert large_cost(no_large, models, 1000, 500) == 0.0


def test_fill_costs_prices_the_call_and_the_large_model_baseline() -> None:
    models = {"mini": MINI, "local": ModelConfig(model="openai/smollm2", cost_per_hour=3.6)}
    route = RouteConfig.model_validate(
        {"targets": {"large": {"model": "mini"}, "small": {"model": "local"}},
         "policy": {"kind": "fixed", "target": "small"}}
    )
    small = make_record(1.0, target="small", model="local", tokens_in=1000, tokens_out=500,
                        latency=Latency(upstream_ms=2000.0, total_ms=2100.0))
    fill_costs(small, models, route)
    assert small.cost_usd == pytest.approx(3.6 * 2 / 3600)
    assert small.large_cost_usd == pytest.approx(1000 * 0.15e-6 + 500 * 0.60e-6)

    hit = make_record(2.0, model="mini", cache="hit", tokens_in=1000, tokens_out=500)
    fill_costs(hit, models, route)
    assert hit.cost_usd == 0.0 and hit.large_cost_usd == pytest.approx(0.00045)

    direct = make_record(3.0, model="mini", tokens_in=1000, tokens_out=500)
    fill_costs(direct, models, None)
    assert direct.cost_usd == direct.large_cost_usd == pytest.approx(0.00045)


def test_approximation_when_no_tokenizer_applies() -> None:
    assert approximate_tokens("I was charged twice for the same coffee this morning, why?") == 15
    assert approximate_tokens("x" * 10) == 3
    assert approximate_tokens([{"role": "user", "content": "x" * 8}, {"role": "user", "content": None}]) == 2 + 8


def test_a_call_without_tokens_is_priced_on_the_large_model_from_its_prompt() -> None:
    """A classifier's answer reports no tokens: the baseline is the prompt estimated plus a short answer."""
    models = {"mini": MINI}
    route = RouteConfig.model_validate(
        {"targets": {"large": {"model": "mini"}, "head": {"classifier": "artifacts/x"}},
         "policy": {"kind": "fixed", "target": "head"}}
    )
    messages = [{"role": "user", "content": "x" * 400}]
    answered = make_record(1.0, target="head", model="", tokens_in=0, tokens_out=0)
    fill_costs(answered, models, route, messages)
    assert answered.cost_usd == 0.0
    assert answered.large_cost_usd == pytest.approx((100 + 4) * 0.15e-6 + 4 * 0.60e-6)
    unpriced = make_record(2.0, target="head", model="")
    fill_costs(unpriced, models, route)
    assert unpriced.large_cost_usd == 0.0
