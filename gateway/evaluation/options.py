"""Every measured variant as an option: accuracy, running cost per 1,000 requests at a volume, p95.

Cost per 1k at a monthly volume V, per target the variant sent answers to:
- a model priced per token (litellm's price map, or per-token prices in gateway.yaml): its
  measured cost per answer, times the share of requests it answered;
- a self-hosted model priced by the hour (`cost_per_hour` in gateway.yaml): its machine runs all
  month for the route, so at least `cost_per_hour x 730 h / V` per request, more when the busy
  time measured in the eval adds up to more than one machine;
- an in-process classifier: nothing beyond the gateway itself.
The recommendation is the most accurate option that meets the threshold (and the SLOs that are
set), the cheapest among equally accurate ones, then the fastest: never one that a measured
option beats on accuracy, and among those, never one that costs more than another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from gateway.config.gateway_file import ModelConfig
from gateway.config.route import ModelTarget, RouteConfig
from gateway.evaluation.history import HistoryEntry
from gateway.evaluation.metrics import wilson_interval
from gateway.usage.pricing import map_rates

HOURS_PER_MONTH = 730.0
KIND = {
    "prompt": "prompted large model",
    "rag": "large model with retrieval (RAG)",
    "small": "fine-tuned small model alone",
    "cascade": "small model, escalating to the large one when unsure",
    "route": "the route as written",
}


@dataclass(frozen=True)
class Pricing:
    """How one target is paid for: per answer (measured), by the machine-hour, or not at all."""

    target: str
    hourly: float | None
    source: str
    origin: str


@dataclass(frozen=True)
class Option:
    variant: str
    score: float
    low: float
    high: float
    n: int
    p95_ms: float
    cost_per_1k: float
    cost_note: str
    meets: bool
    why_not: str = ""
    frontier: bool = False

    @property
    def kind(self) -> str:
        return KIND.get(self.variant, self.variant)


def pricing(route: RouteConfig, models: Mapping[str, ModelConfig]) -> dict[str, Pricing]:
    """Each of the route's targets with how it is paid for and where that price comes from."""
    priced = {}
    for name, target in route.targets.items():
        if not isinstance(target, ModelTarget):
            priced[name] = Pricing(name, None, "in-process classifier: no cost beyond the gateway", "in-process")
            continue
        model = models.get(target.model)
        if model is not None and model.cost_per_hour is not None:
            source = f"gateway.yaml models.{target.model}.cost_per_hour ${model.cost_per_hour:,.2f}/h, always on"
            priced[name] = Pricing(name, model.cost_per_hour, source, "configured")
        elif model is not None and (model.input_cost_per_token is not None or model.output_cost_per_token is not None):
            priced[name] = Pricing(name, None, f"gateway.yaml models.{target.model} per-token prices, as measured",
                                   "configured")
        else:
            model_id = model.model if model is not None else target.model
            rate_in, rate_out = map_rates(model_id)
            if rate_in or rate_out:
                rates = f"${rate_in * 1e6:,.2f} / ${rate_out * 1e6:,.2f} per 1M tokens in / out"
                priced[name] = Pricing(name, None, f"litellm's price map for {model_id}: {rates}",
                                       "price map")
            else:
                priced[name] = Pricing(name, None, f"{model_id}: no price known ($0); set cost_per_hour or "
                                                   f"input_cost_per_token in gateway.yaml models", "assumed")
    return priced


def cost_at_volume(entry: HistoryEntry, prices: Mapping[str, Pricing], volume: float) -> tuple[float, str]:
    """USD per 1,000 requests at *volume* requests a month, with how it was made up."""
    per_target = entry.details.get("target_cost_per_1k_usd") or {}
    if not per_target:
        return entry.metrics.get("cost_per_1k_usd", 0.0), "measured mean (no per-target costs in this eval)"
    total, parts = 0.0, []
    for target, share in entry.target_share.items():
        measured = share * per_target.get(target, 0.0)
        price = prices.get(target)
        if price is not None and price.hourly is not None and volume > 0:
            always_on = price.hourly * HOURS_PER_MONTH / volume * 1000
            cost = max(measured, always_on)
            parts.append(f"{target}: machine ${price.hourly * HOURS_PER_MONTH:,.0f}/month over the volume")
        else:
            cost = measured
            parts.append(f"{target}: ${measured:,.4f} measured")
        total += cost
    return total, "; ".join(parts)


def build_options(
    entries: Mapping[str, HistoryEntry],
    metric: str,
    threshold: float,
    prices: Mapping[str, Pricing],
    volume: float,
    slo_p95_ms: float | None = None,
    budget_per_1k: float | None = None,
) -> list[Option]:
    """One option per measured variant, marked whether it meets the threshold and the SLOs that are set."""
    options = []
    for variant, entry in entries.items():
        if metric not in entry.metrics:
            continue
        score = entry.metrics[metric]
        low, high = wilson_interval(score, entry.n_examples)
        p95 = entry.metrics.get("p95_ms", 0.0)
        cost, note = cost_at_volume(entry, prices, volume)
        why_not = _why_not(metric, score, threshold, p95, slo_p95_ms, cost, budget_per_1k)
        options.append(Option(variant, score, low, high, entry.n_examples, p95, cost, note, not why_not, why_not))
    return mark_frontier(options)


def _why_not(metric: str, score: float, threshold: float, p95: float, slo: float | None, cost: float,
             budget: float | None) -> str:
    reasons = []
    if score < threshold:
        reasons.append(f"{metric} {score:.1%} < threshold {threshold:.1%}")
    if slo is not None and p95 > slo:
        reasons.append(f"p95 {p95:,.0f} ms > SLO {slo:,.0f} ms")
    if budget is not None and cost > budget:
        reasons.append(f"${cost:,.4f} per 1k > budget ${budget:,.4f}")
    return "; ".join(reasons)


def mark_frontier(options: Sequence[Option]) -> list[Option]:
    """The options no other beats on all of accuracy, cost and p95 at once (the Pareto frontier)."""

    def dominated(a: Option) -> bool:
        return any(
            b.score >= a.score and b.cost_per_1k <= a.cost_per_1k and b.p95_ms <= a.p95_ms
            and (b.score, -b.cost_per_1k, -b.p95_ms) != (a.score, -a.cost_per_1k, -a.p95_ms)
            for b in options
        )

    return [replace(option, frontier=not dominated(option)) for option in options]


def choose(options: Sequence[Option]) -> Option | None:
    """The most accurate option that meets every set bar; the cheaper, then the faster, among equals."""
    eligible = [option for option in options if option.meets]
    if not eligible:
        return None
    return min(eligible, key=lambda o: (-o.score, o.cost_per_1k, o.p95_ms))
