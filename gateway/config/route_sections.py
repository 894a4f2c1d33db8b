"""Route sections for retrieval, cache and eval."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

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


# Picked from the banking77 table in docs/benchmarks.md ("Response cache"): the lowest threshold whose
# false-hit rate stays within what each task can absorb. Generation answers depend on details an
# embedding blurs, so it keeps semantic hits to near-duplicates.
DEFAULT_SEMANTIC_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {"classification": 0.90, "extraction": 0.96, "generation": 0.98}
)


class CacheSettings(Strict):
    """Per-route response cache.

    Only requests that should give the same answer are cached: temperature 0, or any temperature when
    `cache_nonzero_temperature` is set (e.g. a classifier target). An absent temperature means the
    provider's default, which is nonzero, so it is not cached unless the route says so.
    `semantic_threshold` None means the default for the route's task.
    """

    enabled: bool = True
    ttl_s: int = Field(3600, ge=1)
    semantic: bool = True
    semantic_threshold: float | None = Field(None, ge=0, le=1)
    cache_nonzero_temperature: bool = False

    def threshold_for(self, task: str) -> float | None:
        """The cosine similarity a semantic hit needs on this route; None when semantic hits are off."""
        if not self.semantic:
            return None
        if self.semantic_threshold is not None:
            return self.semantic_threshold
        return DEFAULT_SEMANTIC_THRESHOLDS.get(task, DEFAULT_SEMANTIC_THRESHOLDS["generation"])


class EvalSettings(Strict):
    data: str
