"""Route sections for retrieval, cache and eval."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from gateway.config.base import Strict
from retrieval.names import check_name


class IndexUse(Strict):
    index: Annotated[str, AfterValidator(check_name)]
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


# From the banking77 table in docs/benchmarks.md ("Response cache"). A semantic hit answers a different
# text with this one's answer: safe when the answer is a label of the meaning (classification), not
# when it depends on the exact words, values or names (extraction, generation). So only
# classification gets semantic hits by default, at the lowest threshold whose false-hit rate is
# within half a point of the floor near-duplicates show (label ambiguity in the data itself).
DEFAULT_SEMANTIC_THRESHOLDS: Mapping[str, float] = MappingProxyType({"classification": 0.94})


# The lowest similarity the agreement and bounded rules consider when the route sets no threshold:
# below it, neighbours in banking77 share the asked intent less often than not.
SEMANTIC_FLOOR = 0.75
SemanticRule = Literal["threshold", "agreement", "bounded"]
AnswerComparison = Literal["exact", "normalised", "json"]


class SemanticSettings(Strict):
    """How a route answers from a similar cached question (`cache.semantic`; `true`/`false` still work).

    Rules: `threshold` serves the nearest cached answer at or above the similarity threshold;
    `agreement` also needs `min_agreement` of the `neighbours` nearest to carry the same answer;
    `bounded` (the default once `max_error` is set) serves a hit only where the learned share of wrong
    hits, at its one-sided `confidence` upper bound, is at most `max_error`. It learns from misses
    (the model's answer against the nearest cached one, at no extra cost) and from verifying at least
    `verify_share` of its hits with a call to the route's target, off the client's path.
    `compare` decides when two answers agree: `normalised` (case, spacing and end punctuation aside;
    the default for classification and generation), `exact`, or `json` (equal once parsed; extraction).
    `guard` refuses hits between questions that differ by a negation, number, name or antonym.
    `pretrain` seeds the bounded rule's evidence from the route's eval data when the gateway starts
    (each eval question asked against the others; once per route version, whatever the replicas).
    """

    enabled: bool = True
    rule: SemanticRule | None = None
    max_error: float | None = Field(None, gt=0, lt=0.5)
    confidence: float = Field(0.95, ge=0.5, lt=1)
    neighbours: int = Field(16, ge=1, le=64)
    min_agreement: float = Field(1.0, gt=0, le=1)
    verify_share: float = Field(0.02, ge=0, le=1)
    compare: AnswerComparison | None = None
    guard: bool = True
    pretrain: bool = False

    @model_validator(mode="after")
    def _bound_needs_max_error(self) -> SemanticSettings:
        if self.rule == "bounded" and self.max_error is None:
            raise ValueError("cache.semantic.rule 'bounded' needs cache.semantic.max_error (e.g. 0.01)")
        return self

    @property
    def active_rule(self) -> SemanticRule:
        if self.rule is not None:
            return self.rule
        return "bounded" if self.max_error is not None else "threshold"

    def comparison(self, task: str) -> AnswerComparison:
        if self.compare is not None:
            return self.compare
        return "json" if task == "extraction" else "normalised"


class CacheSettings(Strict):
    """Per-route response cache.

    Only requests that should give the same answer are cached: temperature 0, or any temperature when
    `cache_nonzero_temperature` is set (e.g. a classifier target). An absent temperature means the
    provider's default, which is nonzero, so it is not cached unless the route says so.
    `semantic_threshold` None means the task's default: 0.94 for classification, semantic hits off
    for extraction and generation (set a threshold, or a `semantic.max_error`, to turn them on).
    For the agreement and bounded rules it is the lowest similarity considered (SEMANTIC_FLOOR if unset).
    `scope: key` keeps each client key's entries to that key, so one client can neither read another's
    answers nor learn what it asked; `global` shares entries between keys (a public FAQ route).
    """

    enabled: bool = True
    ttl_s: int = Field(3600, ge=1)
    semantic: SemanticSettings = SemanticSettings()
    semantic_threshold: float | None = Field(None, ge=0, le=1)
    cache_nonzero_temperature: bool = False
    scope: Literal["key", "global"] = "key"

    @field_validator("semantic", mode="before")
    @classmethod
    def _semantic_flag(cls, value: object) -> object:
        return {"enabled": value} if isinstance(value, bool) else value

    def threshold_for(self, task: str) -> float | None:
        """The cosine similarity a semantic hit needs on this route; None when semantic hits are off."""
        if not self.semantic.enabled:
            return None
        if self.semantic_threshold is not None:
            return self.semantic_threshold
        if self.semantic.active_rule != "threshold":
            return SEMANTIC_FLOOR
        return DEFAULT_SEMANTIC_THRESHOLDS.get(task)


class EvalColumns(Strict):
    """Which columns (CSV) or keys (JSONL) of the gold file hold the input and the expected answer."""

    input: str = "text"
    expected: str = "label"


GateMetric = Literal[
    "accuracy",
    "macro_f1",
    "exact_match",
    "field_precision",
    "field_recall",
    "field_f1",
    "partial_match_rate",
    "bleu",
    "rouge_l",
]


class GateSettings(Strict):
    """A route version is promoted only when its eval reaches `min` on `metric` over at least `min_examples`.

    `bleu` is on sacrebleu's 0-100 scale; every other metric is a share between 0 and 1.
    """

    metric: GateMetric = "accuracy"
    min: float
    min_examples: int = Field(0, ge=0)


class SloSettings(Strict):
    """Service objectives the advisor checks: is latency or per-request cost binding?"""

    p95_ms: float | None = Field(None, gt=0)
    cost_per_1k_usd: float | None = Field(None, ge=0)


class CostModelSettings(Strict):
    """The advisor's cost model; defaults follow the decision framework's figures (USD).

    With these defaults prompting costs about $30k in year one at 50,000 requests a month and
    fine-tuning about $84k; running costs cross at 50,000 requests a month and year-one costs
    at 500,000. Fields left unset by the user may be replaced by measured values.
    """

    hourly_rate: float = Field(150.0, ge=0)
    prompt_engineering_hours: float = Field(100.0, ge=0)
    prompt_maintenance_hours_per_month: float = Field(5.0, ge=0)
    finetune_engineering_hours: float = Field(280.0, ge=0)
    data_preparation: float = Field(18_000.0, ge=0)
    training_compute: float = Field(9_000.0, ge=0)
    hosting_per_month: float = Field(500.0, ge=0)
    finetune_maintenance_hours_per_month: float = Field(5.0, ge=0)
    api_cost_per_request: float = Field(0.01, ge=0)
    self_hosted_cost_per_request: float = Field(0.0, ge=0)
    monthly_requests: float = Field(100_000.0, ge=0)


class EvalSettings(Strict):
    data: str
    columns: EvalColumns = EvalColumns()
    gate: GateSettings | None = None
    slo: SloSettings = SloSettings()
    cost: CostModelSettings = CostModelSettings()
