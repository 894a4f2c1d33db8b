"""What a config snapshot needs loaded before it serves: its routes' indexes and classifier heads."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config.route import RouteConfig
from gateway.config.snapshot import ConfigSnapshot
from gateway.errors import ConfigError
from gateway.smallmodel.head import ClassifierHead
from gateway.smallmodel.heads import Heads, heads_stamp, load_heads
from retrieval.errors import RetrievalError
from retrieval.index import VectorIndex
from retrieval.registry import IndexRegistry


@dataclass(frozen=True)
class RouteResources:
    indexes: dict[str, VectorIndex] = field(default_factory=dict)
    heads: Heads = field(default_factory=dict)

    def index(self, name: str) -> VectorIndex:
        return self.indexes[name]

    def head(self, route: str, target: str) -> ClassifierHead:
        return self.heads[(route, target)]

    def index_versions(self, config: RouteConfig) -> tuple[str, ...]:
        """name@version of every index the route reads, for cache keys and eval history."""
        uses = (config.retrieval.examples, config.retrieval.documents)
        return tuple(f"{u.index}@{self.indexes[u.index].version}" for u in uses if u is not None)


def prepare_resources(snapshot: ConfigSnapshot, registry: IndexRegistry) -> RouteResources:
    """Load every index and head the routes name; ConfigError names the route and what is missing."""
    indexes: dict[str, VectorIndex] = {}
    for name, route in snapshot.routes.items():
        for use in (route.config.retrieval.examples, route.config.retrieval.documents):
            if use is None or use.index in indexes:
                continue
            try:
                indexes[use.index] = registry.get(use.index)
            except RetrievalError as exc:
                raise ConfigError(f"{route.path}: route '{name}' names index '{use.index}': {exc}") from None
    heads = load_heads(snapshot, registry.embedder_id, registry.dim)
    return RouteResources(indexes=indexes, heads=heads)


def resources_stamp(snapshot: ConfigSnapshot, registry: IndexRegistry) -> tuple[object, ...]:
    """A fingerprint of every artifact the routes load: it changes when an index or head is replaced."""
    names = sorted({use.index for route in snapshot.routes.values()
                    for use in (route.config.retrieval.examples, route.config.retrieval.documents) if use})
    return (tuple(registry.stamp(name) for name in names), heads_stamp(snapshot))
