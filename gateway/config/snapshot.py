"""Load the whole config directory into one immutable snapshot, checked across files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from gateway.config.gateway_file import GatewayConfig
from gateway.config.loader import line_of, load_model
from gateway.config.policy import CascadePolicy, RetrievalPolicy
from gateway.config.route import ClassifierTarget, ModelTarget, RouteConfig
from gateway.errors import ConfigError
from retrieval.names import check_name


@dataclass(frozen=True)
class Route:
    """A validated route with the facts the gateway derives from its file."""

    name: str
    config: RouteConfig
    path: Path
    version: str

    # Read on every request, worked out on the first: the config does not change under a Route.
    @cached_property
    def passthrough(self) -> frozenset[str]:
        """The non-OpenAI parameters the route forwards to its provider."""
        return frozenset(self.config.passthrough_params)

    @cached_property
    def needs_vector(self) -> bool:
        """Whether anything on this route reads the request embedding."""
        config = self.config
        retrieval = config.retrieval.examples is not None or config.retrieval.documents is not None
        semantic = config.cache.enabled and config.cache.threshold_for(config.task) is not None
        policy = isinstance(config.policy, CascadePolicy | RetrievalPolicy)
        classifier = any(isinstance(t, ClassifierTarget) for t in config.targets.values())
        return retrieval or semantic or policy or classifier


@dataclass(frozen=True)
class ConfigSnapshot:
    root: Path
    gateway: GatewayConfig
    routes: dict[str, Route] = field(default_factory=dict)

    @property
    def routes_dir(self) -> Path:
        return self.root / "routes"

    @property
    def indexes_dir(self) -> Path:
        return self.resolve(self.gateway.indexes_dir)

    def resolve(self, path: str) -> Path:
        """A path written in the config: absolute as written, relative ones from the directory holding it."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.root.parent / candidate


def load_gateway(root: Path) -> GatewayConfig:
    path = root / "gateway.yaml"
    if not path.exists():
        raise ConfigError(f"{path}: not found (the config directory needs a gateway.yaml)")
    return load_model(path, GatewayConfig)


def load_routes(root: Path, gateway: GatewayConfig) -> dict[str, Route]:
    """Every routes/*.yaml, validated and checked against gateway.yaml; errors joined."""
    routes: dict[str, Route] = {}
    errors: list[str] = []
    for path in sorted((root / "routes").glob("*.y*ml")):
        try:
            routes[path.stem] = load_route(path, gateway)
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return routes


def load_route(path: Path, gateway: GatewayConfig) -> Route:
    try:
        check_name(path.stem, "route")
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    config = load_model(path, RouteConfig)
    _check_references(path, config, gateway)
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return Route(name=path.stem, config=config, path=path, version=version)


def load_snapshot(root: Path) -> ConfigSnapshot:
    """Read gateway.yaml and every route file under *root*; raise ConfigError on any fault."""
    root = root.resolve()
    gateway = load_gateway(root)
    return ConfigSnapshot(root=root, gateway=gateway, routes=load_routes(root, gateway))


def _check_references(path: Path, config: RouteConfig, gateway: GatewayConfig) -> None:
    node = yaml.compose(path.read_text(encoding="utf-8"))
    for name, target in config.targets.items():
        if isinstance(target, ModelTarget) and target.model not in gateway.models:
            line = line_of(node, ["targets", name, "model"])
            known = ", ".join(sorted(gateway.models)) or "none"
            raise ConfigError(
                f"{path}:{line}: key 'targets.{name}.model': model '{target.model}' "
                f"is not in gateway.yaml models (known: {known})"
            )
        if isinstance(target, ClassifierTarget) and not target.classifier:
            raise ConfigError(f"{path}: key 'targets.{name}.classifier' is empty")
    for used in config.policy.target_names():
        if used not in config.targets:
            line = line_of(node, ["policy"])
            raise ConfigError(
                f"{path}:{line}: key 'policy': target '{used}' is not among targets "
                f"({', '.join(sorted(config.targets))})"
            )
