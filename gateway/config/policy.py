"""The `policy` section of a route: how a target is chosen for each request.

One model per `kind`; pydantic picks the model from the `kind` key. Every
policy names the targets it uses (`target_names`) so the config loader can
check them against the route's `targets`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from gateway.config.base import Strict

Probability = Annotated[float, Field(ge=0, le=1)]


class FixedPolicy(Strict):
    """Every request goes to one target."""

    kind: Literal["fixed"]
    target: str

    def target_names(self) -> list[str]:
        return [self.target]


class SplitPolicy(Strict):
    """Weighted percentages (A/B, canary); a request's `user` always lands on the same target.

    `salt` reshuffles which users land where without changing the weights.
    """

    kind: Literal["split"]
    weights: dict[str, Annotated[float, Field(ge=0, le=100)]]
    salt: str = ""

    @model_validator(mode="after")
    def _weights_sum_to_100(self) -> SplitPolicy:
        total = sum(self.weights.values())
        if not self.weights or abs(total - 100) > 1e-6:
            raise ValueError(f"split weights must add up to 100 (they add up to {total:g})")
        return self

    def target_names(self) -> list[str]:
        return list(self.weights)


class FallbackPolicy(Strict):
    """Ordered targets: the next one answers when the one before fails or times out.

    A target whose recent error rate reaches `skip_error_rate` is tried last instead of first.
    """

    kind: Literal["fallback"]
    targets: list[str] = Field(min_length=1)
    skip_error_rate: Probability = 1.0

    @model_validator(mode="after")
    def _targets_unique(self) -> FallbackPolicy:
        if len(set(self.targets)) != len(self.targets):
            raise ValueError("fallback targets must not repeat")
        return self

    def target_names(self) -> list[str]:
        return list(self.targets)


class CascadePolicy(Strict):
    """The small target first; escalate to the large one on low confidence or a failed format check.

    `min_confidence: auto` uses the threshold `ragway finetune` calibrated into the small model's artifact.
    """

    kind: Literal["cascade"]
    small: str
    large: str
    min_confidence: Probability | Literal["auto"] = "auto"

    @model_validator(mode="after")
    def _distinct(self) -> CascadePolicy:
        if self.small == self.large:
            raise ValueError("cascade small and large must be different targets")
        return self

    def target_names(self) -> list[str]:
        return [self.small, self.large]


class RetrievalPolicy(Strict):
    """Decide before calling anything from the nearest examples: close and unanimous -> small.

    `min_agreement` is the share of the retrieved examples that must carry the most common label.
    """

    kind: Literal["retrieval"]
    small: str
    large: str
    min_similarity: Annotated[float, Field(ge=-1, le=1)] = 0.85
    min_agreement: Probability = 1.0

    @model_validator(mode="after")
    def _distinct(self) -> RetrievalPolicy:
        if self.small == self.large:
            raise ValueError("retrieval small and large must be different targets")
        return self

    def target_names(self) -> list[str]:
        return [self.small, self.large]


PolicyConfig = Annotated[
    FixedPolicy | SplitPolicy | FallbackPolicy | CascadePolicy | RetrievalPolicy,
    Field(discriminator="kind"),
]
