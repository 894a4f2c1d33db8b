"""The advisor's inputs, gathered from what was measured: eval history, request logs, index manifests.

Whatever was not measured falls back to the route's config or the framework's defaults and is
marked configured or assumed, with where the value came from and the key that overrides it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.config.route_sections import CostModelSettings, SloSettings
from gateway.config.snapshot import ConfigSnapshot, Route
from gateway.evaluation.advise import AdviceInputs, Fact
from gateway.evaluation.history import EvalHistory, HistoryEntry
from gateway.evaluation.metrics import PRIMARY_METRIC, percentile
from gateway.evaluation.options import Option, Pricing, build_options, pricing
from gateway.evaluation.provenance import examples_count
from gateway.usage.record import RequestRecord

DAYS_PER_MONTH = 30.0
DEFAULT_THRESHOLD = 0.9
SCORED_VARIANTS = ("prompt", "rag", "small", "cascade")


@dataclass(frozen=True)
class TrafficStats:
    """The route's served requests over a window of the request log."""

    requests: int
    days: float
    p95_ms: float

    @property
    def monthly_requests(self) -> float:
        return self.requests * DAYS_PER_MONTH / self.days if self.days > 0 else 0.0


def traffic_stats(records: Sequence[RequestRecord], days: float) -> TrafficStats:
    """Volume and p95 of total latency over the route's answered requests (errors left out) in a *days* window."""
    answered = [r.latency.total_ms for r in records if r.status < 400]
    return TrafficStats(requests=len(answered), days=days, p95_ms=percentile(answered, 95))


@dataclass(frozen=True)
class LabelledCount:
    """Labelled examples counted somewhere other than the route's example index (a file the user named)."""

    count: int
    source: str


def gather(
    snapshot: ConfigSnapshot,
    route: Route,
    history: EvalHistory,
    traffic: TrafficStats | None = None,
    labelled: LabelledCount | None = None,
    requests_per_month: float | None = None,
) -> AdviceInputs:
    """Every input of the advice for *route*, each with its value and where it came from."""
    settings = route.config.eval
    slo = settings.slo if settings else SloSettings()
    cost = settings.cost if settings else CostModelSettings()
    metric, threshold = _threshold(route)
    latest = {variant: history.latest(route.name, variant) for variant in SCORED_VARIANTS}
    measured = {variant: entry for variant, entry in latest.items() if entry is not None}
    prompted = _best_prompted(latest, metric)
    monthly = _monthly(traffic, cost, requests_per_month)
    api_cost = _api_cost(prompted, cost)
    prices = pricing(route.config, snapshot.gateway.models)
    options = build_options(measured, metric, threshold.value, prices, monthly.value or 0.0, slo.p95_ms,
                            slo.cost_per_1k_usd)
    cascade = latest["cascade"]
    return AdviceInputs(
        route=route.name,
        metric=metric,
        describable=_describable(route),
        threshold=threshold,
        scores={variant: _score(variant, entry, metric) for variant, entry in latest.items()},
        prompt_cases=_prompt_cases(latest["prompt"]),
        labelled_examples=_labelled(snapshot, route, labelled),
        p95_ms=_p95(traffic, prompted),
        slo_p95_ms=_slo("p95 SLO (ms)", slo.p95_ms, "eval.slo.p95_ms", "{:,.0f}"),
        cost_per_1k=_cost_per_1k(prompted, options),
        slo_cost_per_1k=_slo("cost budget per 1k", slo.cost_per_1k_usd, "eval.slo.cost_per_1k_usd", "${:,.4f}"),
        monthly_requests=monthly,
        api_cost_per_request=api_cost,
        cost=cost.model_copy(update={"monthly_requests": monthly.value, "api_cost_per_request": api_cost.value}),
        options=options,
        prices=[_price_fact(p) for p in prices.values()],
        cost_model=_cost_model(cost),
        escalation=(cascade.details.get("escalation") if cascade else None),
    )


def _price_fact(price: Pricing) -> Fact:
    if price.hourly is not None:
        return Fact(f"price of target '{price.target}'", price.hourly, False, price.source, "${:,.2f}/h",
                    origin=price.origin)
    return Fact(f"price of target '{price.target}'", "per answer", False, price.source, origin=price.origin)


def _best_prompted(latest: dict[str, HistoryEntry | None], metric: str) -> HistoryEntry | None:
    """The prompted variant that would ship (the more accurate of rag and prompt), if either was measured."""
    found = [entry for entry in (latest["rag"], latest["prompt"]) if entry is not None]
    return max(found, key=lambda e: e.metrics.get(metric, 0.0)) if found else None


def _slo(name: str, value: float | None, key: str, fmt: str) -> Fact:
    if value is None:
        return Fact(name, None, False, f"not set (route {key}): not checked")
    return Fact(name, value, False, f"route {key}", fmt, configured=True)


def _cost_model(cost: CostModelSettings) -> list[Fact]:
    """The cost model's parameters behind the year-one projection, each overridable in the route."""
    facts = []
    for key in ("hourly_rate", "prompt_engineering_hours", "prompt_maintenance_hours_per_month",
                "finetune_engineering_hours", "data_preparation", "training_compute", "hosting_per_month",
                "finetune_maintenance_hours_per_month"):
        facts.append(Fact(f"cost model: {key}", getattr(cost, key), False, _explicit(cost, key), "{:,.0f}",
                          configured=key in cost.model_fields_set))
    return facts


def _describable(route: Route) -> Fact:
    has_prompt = bool(route.config.system_prompt.strip())
    has_task = "task" in route.config.model_fields_set
    prompt_state, task_state = ("set" if has_prompt else "empty"), ("set" if has_task else "unset")
    source = f"{route.path.name}: system prompt {prompt_state}, task {task_state}"
    return Fact("behaviour described", has_prompt and has_task, True, source)


def _threshold(route: Route) -> tuple[str, Fact]:
    gate = route.config.eval.gate if route.config.eval else None
    if gate is not None:
        fact = Fact(f"threshold ({gate.metric})", gate.min, False, "route eval.gate", "{:.3f}", configured=True)
        return gate.metric, fact
    metric = PRIMARY_METRIC[route.config.task]
    source = "default; set eval.gate in the route"
    return metric, Fact(f"threshold ({metric})", DEFAULT_THRESHOLD, False, source, "{:.3f}")


def _score(variant: str, entry: HistoryEntry | None, metric: str) -> Fact:
    name = f"{variant} {metric}"
    if entry is None or metric not in entry.metrics:
        return Fact(name, None, False, f"no eval of variant '{variant}'")
    return Fact(name, entry.metrics[metric], True, _eval_source(entry), "{:.3f}")


def _prompt_cases(entry: HistoryEntry | None) -> Fact:
    if entry is None:
        return Fact("prompt gold cases", None, False, "no eval of variant 'prompt'")
    return Fact("prompt gold cases", entry.n_examples, True, _eval_source(entry), "{:,}")


def _labelled(snapshot: ConfigSnapshot, route: Route, labelled: LabelledCount | None) -> Fact:
    name = "labelled examples"
    if labelled is not None:
        return Fact(name, labelled.count, True, labelled.source, "{:,}")
    count = examples_count(snapshot, route.config)
    if count is None:
        return Fact(name, None, False, "no example index built for the route (or pass --labelled FILE)")
    index = route.config.retrieval.examples.index if route.config.retrieval.examples else "?"
    return Fact(name, count, True, f"example index '{index}' manifest", "{:,}")


def _p95(traffic: TrafficStats | None, prompted: HistoryEntry | None) -> Fact:
    name = "p95 latency (ms)"
    if traffic is not None and traffic.requests:
        return Fact(name, traffic.p95_ms, True, f"request log, {traffic.requests:,} requests", "{:,.0f}")
    if prompted is not None:
        return Fact(name, prompted.metrics.get("p95_ms"), True, _eval_source(prompted), "{:,.0f}")
    return Fact(name, None, False, "no request logs and no eval of the prompted model")


def _cost_per_1k(prompted: HistoryEntry | None, options: Sequence[Option]) -> Fact:
    name = "prompted cost per 1k"
    if prompted is None:
        return Fact(name, None, False, "no eval of the prompted model")
    option = next((o for o in options if o.variant == prompted.variant), None)
    value = option.cost_per_1k if option else prompted.metrics.get("cost_per_1k_usd")
    return Fact(name, value, True, f"{_eval_source(prompted)}, at the monthly volume", "${:,.4f}")


def _monthly(traffic: TrafficStats | None, cost: CostModelSettings, given: float | None) -> Fact:
    name = "requests per month"
    if traffic is not None and traffic.requests:
        source = f"request log: {traffic.requests:,} in {traffic.days:g} days"
        return Fact(name, traffic.monthly_requests, True, source, "{:,.0f}")
    if given is not None:
        return Fact(name, given, False, "--requests-per-month", "{:,.0f}", configured=True)
    source = _explicit(cost, "monthly_requests")
    configured = "monthly_requests" in cost.model_fields_set
    hint = "" if configured else "; pass --requests-per-month or set route eval.cost.monthly_requests"
    return Fact(name, cost.monthly_requests, False, source + hint, "{:,.0f}", configured=configured)


def _api_cost(prompted: HistoryEntry | None, cost: CostModelSettings) -> Fact:
    name = "API cost per request"
    measured = prompted.metrics.get("cost_per_1k_usd") if prompted else None
    if "api_cost_per_request" in cost.model_fields_set or measured is None or prompted is None:
        configured = "api_cost_per_request" in cost.model_fields_set
        source = _explicit(cost, "api_cost_per_request")
        return Fact(name, cost.api_cost_per_request, False, source, "${:,.5f}", configured=configured)
    return Fact(name, measured / 1000, True, _eval_source(prompted), "${:,.5f}")


def _explicit(cost: CostModelSettings, field: str) -> str:
    if field in cost.model_fields_set:
        return f"route eval.cost.{field}"
    return f"framework default (override: route eval.cost.{field})"


def _configured(value: float | None, key: str) -> str:
    return f"route {key}" if value is not None else f"not set (route {key})"


def _eval_source(entry: HistoryEntry) -> str:
    when = datetime.fromtimestamp(entry.ts, UTC).strftime("%Y-%m-%d %H:%M")
    return f"eval {entry.run_id} '{entry.variant}', {entry.n_examples:,} cases, {when} UTC"
