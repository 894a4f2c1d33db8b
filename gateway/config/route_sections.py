"""Route sections for retrieval, cache and eval."""

from __future__ import annotations

from pydantic import Field

from gateway.config.base import Strict


class IndexUse(Strict):
    index: str
    k: int = Field(4, ge=1, le=100)
    min_score: float = Field(0.0, ge=-1, le=1)
    # MMR: fetch `candidates` nearest rows, keep k trading relevance (lambda=1) against diversity (lambda=0).
    mmr_lambda: float | None = Field(None, ge=0, le=1)
    candidates: int | None = Field(None, ge=1, le=1000)


class RetrievalSettings(Strict):
    examples: IndexUse | None = None
    documents: IndexUse | None = None
    # Approximate tokens for retrieved documents and examples together; lowest scores are dropped first.
    max_context_tokens: int | None = Field(None, ge=1)


class CacheSettings(Strict):
    enabled: bool = True
    ttl_s: int = Field(3600, ge=1)
    semantic_threshold: float | None = Field(None, ge=0, le=1)


class EvalSettings(Strict):
    data: str
