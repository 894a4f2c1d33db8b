"""What a config snapshot needs loaded before it serves: its routes' indexes and classifier heads."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config.route import ClassifierTarget, RouteConfig
from gateway.config.snapshot import ConfigSnapshot, Route
from gateway.errors import ConfigError
from gateway.smallmodel.head import ClassifierHead
from gateway.smallmodel.heads import Heads, heads_stamp
from retrieval.errors import RetrievalError
from retrieval.index import VectorIndex
from retrieval.registry import IndexRegistry


@dataclass(frozen=True)
class RouteResources:
    """`unavailable`: route name -> why it cannot serve (an index or classifier artifact it names is missing)."""

    indexes: dict[str, VectorIndex] = field(default_factory=dict)
    heads: Heads = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    stale: bool = False
    """True when a replaced artifact failed to load and its previous version serves meanwhile."""

    def index(self, name: str) -> VectorIndex:
        return self.indexes[name]

    def head(self, route: str, target: str) -> ClassifierHead:
        return self.heads[(route, target)]

    def index_versions(self, config: RouteConfig) -> tuple[str, ...]:
        """name@version of every index the route reads, for cache keys and eval history."""
        uses = (config.retrieval.examples, config.retrieval.documents)
        return tuple(f"{u.index}@{self.indexes[u.index].version}" for u in uses if u is not None)


def prepare_resources(snapshot: ConfigSnapshot, registry: IndexRegistry,
                      previous: RouteResources | None = None) -> RouteResources:
    """Load every index and head the routes name; a route whose resource fails is marked unavailable.

    The other routes still serve: one route's missing index must not take the whole gateway down.
    A route that served from *previous* keeps those resources when their replacement fails to load
    (an index folder caught mid-swap, a half-copied artifact): the old version serves until the new loads.
    """
    indexes: dict[str, VectorIndex] = {}
    heads: Heads = {}
    unavailable: dict[str, str] = {}
    stale = False
    for name, route in snapshot.routes.items():
        try:
            indexes.update(_route_indexes(route, registry, indexes))
            heads.update(_route_heads(snapshot, route, registry))
        except ConfigError as exc:
            if _keep_previous(route, previous, indexes, heads):
                stale = True
            else:
                unavailable[name] = str(exc)
    return RouteResources(indexes=indexes, heads=heads, unavailable=unavailable, stale=stale)


def _keep_previous(route: Route, previous: RouteResources | None, indexes: dict[str, VectorIndex],
                   heads: Heads) -> bool:
    if previous is None or route.name in previous.unavailable:
        return False
    uses = [u.index for u in (route.config.retrieval.examples, route.config.retrieval.documents) if u]
    targets = [t for t, spec in route.config.targets.items() if isinstance(spec, ClassifierTarget)]
    if any(u not in previous.indexes for u in uses) or any((route.name, t) not in previous.heads for t in targets):
        return False
    indexes.update({u: previous.indexes[u] for u in uses if u not in indexes})
    heads.update({(route.name, t): previous.heads[(route.name, t)] for t in targets})
    return True


def _route_indexes(route: Route, registry: IndexRegistry, loaded: dict[str, VectorIndex]) -> dict[str, VectorIndex]:
    found = {}
    for use in (route.config.retrieval.examples, route.config.retrieval.documents):
        if use is None or use.index in loaded:
            continue
        try:
            found[use.index] = registry.get(use.index)
        except RetrievalError as exc:
            raise ConfigError(
                f"{route.path}: route '{route.name}' names index '{use.index}': {exc} "
                f"(build it with `ragway index build --name {use.index} ...`)"
            ) from None
    return found


def _route_heads(snapshot: ConfigSnapshot, route: Route, registry: IndexRegistry) -> Heads:
    heads: Heads = {}
    for target_name, target in route.config.targets.items():
        if isinstance(target, ClassifierTarget):
            path = snapshot.resolve(target.classifier)
            try:
                heads[(route.name, target_name)] = ClassifierHead.load(path, registry.embedder_id, registry.dim)
            except ConfigError as exc:
                raise ConfigError(
                    f"{route.path}: route '{route.name}' target '{target_name}': {exc} "
                    f"(train it with `ragway finetune --route {route.name} --data TRAIN.csv`)"
                ) from None
    return heads


def resources_stamp(snapshot: ConfigSnapshot, registry: IndexRegistry) -> tuple[object, ...]:
    """A fingerprint of every artifact the routes load: it changes when an index or head is replaced."""
    names = sorted({use.index for route in snapshot.routes.values()
                    for use in (route.config.retrieval.examples, route.config.retrieval.documents) if use})
    return (tuple(registry.stamp(name) for name in names), heads_stamp(snapshot))
