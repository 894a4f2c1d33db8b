"""Route sections for retrieval, cache and eval."""

from __future__ import annotations

from pydantic import Field

from gateway.config.base import Strict


class IndexUse(Strict):
    index: str
    k: int = Field(4, ge=1, le=100)
    min_score: float = Field(0.0, ge=-1, le=1)


class RetrievalSettings(Strict):
    examples: IndexUse | None = None
    documents: IndexUse | None = None


class CacheSettings(Strict):
    enabled: bool = True
    ttl_s: int = Field(3600, ge=1)
    semantic_threshold: float | None = Field(None, ge=0, le=1)


class EvalSettings(Strict):
    data: str
