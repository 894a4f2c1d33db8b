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


class RetrievalSettings(Strict):
    examples: IndexUse | None = None
    documents: IndexUse | None = None


# From the banking77 table in docs/benchmarks.md ("Response cache"). A semantic hit answers a different
# text with this one's answer: safe when the answer is a label of the meaning (classification), not
# when it depends on the exact words, values or names (extraction, generation). So only
# classification gets semantic hits by default, at the lowest threshold whose false-hit rate is
# within half a point of the floor near-duplicates show (label ambiguity in the data itself).
DEFAULT_SEMANTIC_THRESHOLDS: Mapping[str, float] = MappingProxyType({"classification": 0.94})


class CacheSettings(Strict):
    """Per-route response cache.

    Only requests that should give the same answer are cached: temperature 0, or any temperature when
    `cache_nonzero_temperature` is set (e.g. a classifier target). An absent temperature means the
    provider's default, which is nonzero, so it is not cached unless the route says so.
    `semantic_threshold` None means the task's default: 0.94 for classification, semantic hits off
    for extraction and generation (set a threshold to turn them on).
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
        return DEFAULT_SEMANTIC_THRESHOLDS.get(task)


class EvalSettings(Strict):
    data: str
