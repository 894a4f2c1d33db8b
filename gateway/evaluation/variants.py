"""Eval variants: each is an override of the route's config, run through the same code path.

    route    the route as written
    prompt   no retrieval, the large target fixed
    rag      retrieval (examples and documents as configured) on, the large target fixed
    small    the small target (the fine-tuned classifier) fixed
    cascade  small first, escalate to large on low confidence

Every variant turns the cache off, so each gold case really reaches a target. A route without a
small model of its own can borrow one for `small` and `cascade` (`with_small_model`): the
classifier `ragway finetune` trained for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from pydantic import TypeAdapter

from gateway.config.policy import FixedPolicy, PolicyConfig
from gateway.config.route import ClassifierTarget, RouteConfig
from gateway.config.route_sections import CacheSettings, RetrievalSettings


class VariantError(ValueError):
    """A variant cannot be built from this route (a target or an index it needs is missing)."""


Variant = Callable[[RouteConfig], RouteConfig]


def as_written(route: RouteConfig) -> RouteConfig:
    return _no_cache(route)


def prompt(route: RouteConfig) -> RouteConfig:
    return _no_cache(route).model_copy(update={"retrieval": RetrievalSettings(), "policy": _fixed(large_target(route))})


def rag(route: RouteConfig) -> RouteConfig:
    if route.retrieval.examples is None and route.retrieval.documents is None:
        raise VariantError("variant 'rag' needs retrieval.examples or retrieval.documents in the route")
    return _no_cache(route).model_copy(update={"policy": _fixed(large_target(route))})


def small(route: RouteConfig) -> RouteConfig:
    return _no_cache(route).model_copy(update={"policy": _fixed(small_target(route))})


def cascade(route: RouteConfig) -> RouteConfig:
    threshold = getattr(route.policy, "min_confidence", "auto")
    policy = _policy(
        {"kind": "cascade", "small": small_target(route), "large": large_target(route), "min_confidence": threshold}
    )
    return _no_cache(route).model_copy(update={"policy": policy})


VARIANTS: Mapping[str, Variant] = MappingProxyType(
    {"route": as_written, "prompt": prompt, "rag": rag, "small": small, "cascade": cascade}
)


def parse_variants(spec: str) -> list[str]:
    """'prompt,rag' -> ['prompt', 'rag']; unknown names raise VariantError listing the known ones."""
    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        raise VariantError(f"unknown variant(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(VARIANTS)}")
    return list(dict.fromkeys(names))


def build_variant(name: str, route: RouteConfig) -> RouteConfig:
    """The route config the variant *name* runs with; validated again so a broken override cannot pass."""
    built = RouteConfig.model_validate(VARIANTS[name](route).model_dump())
    missing = [t for t in built.policy.target_names() if t not in built.targets]
    if missing:
        raise VariantError(f"variant '{name}' needs target(s) {', '.join(missing)}, not among the route's targets")
    return built


def has_small_model(route: RouteConfig) -> bool:
    """Whether the route names its small model (by policy, a target called `small`, or a classifier target)."""
    named = getattr(route.policy, "small", None)
    return bool(named) or "small" in route.targets or any(
        isinstance(t, ClassifierTarget) for t in route.targets.values()
    )


def with_small_model(route: RouteConfig, classifier: str) -> RouteConfig:
    """*route* with a `small` target served by the classifier artifact *classifier*, unless it has a small model."""
    if has_small_model(route):
        return route
    targets = {**route.targets, "small": ClassifierTarget(classifier=classifier)}
    return route.model_copy(update={"targets": targets})


def large_target(route: RouteConfig) -> str:
    """The prompted large model: named by the policy, else the target 'large', else the only model target."""
    named = getattr(route.policy, "large", None)
    if named:
        return named
    if "large" in route.targets:
        return "large"
    models = [n for n, t in route.targets.items() if not isinstance(t, ClassifierTarget)]
    return _only(models, "large model", route)


def small_target(route: RouteConfig) -> str:
    """The small model: named by the policy, else the target 'small', else the only classifier target."""
    named = getattr(route.policy, "small", None)
    if named:
        return named
    if "small" in route.targets:
        return "small"
    classifiers = [n for n, t in route.targets.items() if isinstance(t, ClassifierTarget)]
    return _only(classifiers, "small model", route)


def _only(names: list[str], what: str, route: RouteConfig) -> str:
    if len(names) != 1:
        raise VariantError(f"cannot tell which target is the {what} (targets: {', '.join(sorted(route.targets))})")
    return names[0]


def _fixed(target: str) -> FixedPolicy:
    return FixedPolicy(kind="fixed", target=target)


def _policy(data: dict[str, Any]) -> Any:
    try:
        return TypeAdapter(PolicyConfig).validate_python(data)
    except ValueError as exc:
        raise VariantError(f"policy {data['kind']} is not available: {exc}") from None


def _no_cache(route: RouteConfig) -> RouteConfig:
    return route.model_copy(update={"cache": CacheSettings(enabled=False, ttl_s=route.cache.ttl_s)})
