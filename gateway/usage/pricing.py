"""What a call cost, and what it would have cost on the route's large model.

Prices, first match wins per model:
1. `input_cost_per_token` / `output_cost_per_token` in gateway.yaml (a side left out falls back to 3.);
2. `cost_per_hour` for self-hosted models: the hourly price times the seconds the upstream took;
3. litellm's bundled price map (read offline with LITELLM_LOCAL_MODEL_COST_MAP=True);
4. zero, for a model the map does not know (a local model with no configured price).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.config.gateway_file import ModelConfig
from gateway.config.route import ModelTarget, RouteConfig
from gateway.usage.record import RequestRecord

# The target name a route gives its prompted large model; the counterfactual cost is priced on it.
LARGE_TARGET = "large"
# Used only when litellm cannot tokenize: English text averages about four characters per token.
CHARS_PER_TOKEN = 4

Messages = Sequence[Mapping[str, Any]]


def price(model: ModelConfig | None, tokens_in: int, tokens_out: int, upstream_seconds: float = 0.0) -> float:
    """USD for one call to *model*; None (an in-process classifier) costs nothing."""
    if model is None:
        return 0.0
    overrides = (model.input_cost_per_token, model.output_cost_per_token)
    if model.cost_per_hour is not None and overrides == (None, None):
        return model.cost_per_hour * upstream_seconds / 3600
    map_in, map_out = map_rates(model.model) if None in overrides else (0.0, 0.0)
    rate_in = map_in if overrides[0] is None else overrides[0]
    rate_out = map_out if overrides[1] is None else overrides[1]
    return tokens_in * rate_in + tokens_out * rate_out


def map_rates(model: str) -> tuple[float, float]:
    """(input, output) USD per token from litellm's price map; (0, 0) for a model it does not list."""
    # litellm takes seconds to import: only models priced from its map pay for it
    import litellm
    from litellm.exceptions import ModelNotMappedError

    try:
        info = litellm.get_model_info(model)
    except ModelNotMappedError:
        return 0.0, 0.0
    return float(info.get("input_cost_per_token") or 0.0), float(info.get("output_cost_per_token") or 0.0)


def large_model(route: RouteConfig, models: Mapping[str, ModelConfig]) -> ModelConfig | None:
    """The model behind the route's `large` target, if it has one."""
    target = route.targets.get(LARGE_TARGET)
    return models.get(target.model) if isinstance(target, ModelTarget) else None


def large_cost(
    route: RouteConfig,
    models: Mapping[str, ModelConfig],
    tokens_in: int,
    tokens_out: int,
    upstream_seconds: float = 0.0,
) -> float:
    """What the same tokens would have cost on the route's large model (the baseline for savings).

    An hourly-priced large model is charged for *upstream_seconds*, the time the call actually took.
    """
    return price(large_model(route, models), tokens_in, tokens_out, upstream_seconds)


def fill_costs(rec: RequestRecord, models: Mapping[str, ModelConfig], route: RouteConfig | None,
               messages: Messages = ()) -> None:
    """Set `cost_usd` and `large_cost_usd` on a finished record whose `model` names a gateway.yaml model.

    A cache hit costs nothing; its counterfactual is still what the large model would have charged.
    Without a route (a model called directly) the counterfactual is the call itself. A call that
    reported no tokens (a classifier's answer, a cache hit) is priced on the large model with the
    prompt *messages* estimated and a four-token answer.
    """
    seconds = rec.latency.upstream_ms / 1000
    rec.cost_usd = 0.0 if rec.cache_hit else price(models.get(rec.model), rec.tokens_in, rec.tokens_out, seconds)
    if route is None:
        rec.large_cost_usd = rec.cost_usd
        return
    tokens_in = rec.tokens_in or (approximate_tokens(messages) if messages else 0)
    tokens_out = rec.tokens_out or (4 if messages else 0)
    rec.large_cost_usd = large_cost(route, models, tokens_in, tokens_out, seconds)


def approximate_tokens(content: Messages | str) -> int:
    """About one token per four characters, plus four per message for the chat framing."""
    if isinstance(content, str):
        return math.ceil(len(content) / CHARS_PER_TOKEN)
    text = sum(len(str(message.get("content") or "")) for message in content)
    return math.ceil(text / CHARS_PER_TOKEN) + 4 * len(content)
