"""Config: YAML files validated once into strict pydantic models and passed down."""

from gateway.config.gateway_file import GatewayConfig, LocalServerConfig, ModelConfig
from gateway.config.route import RouteConfig
from gateway.config.snapshot import ConfigSnapshot, Route, load_snapshot

__all__ = [
    "ConfigSnapshot",
    "GatewayConfig",
    "LocalServerConfig",
    "ModelConfig",
    "Route",
    "RouteConfig",
    "load_snapshot",
]
