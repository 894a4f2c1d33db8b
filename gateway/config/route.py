"""configs/routes/<name>.yaml: what users edit, one file per route."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from gateway.config.base import Strict
from gateway.config.policy import CascadePolicy, FixedPolicy, PolicyConfig
from gateway.config.route_sections import CacheSettings, EvalSettings, RetrievalSettings
from gateway.wire_params import check_passthrough

TaskType = Literal["classification", "extraction", "generation"]


class ModelTarget(Strict):
    """A model named in gateway.yaml `models`."""

    model: str


class ClassifierTarget(Strict):
    """A fine-tuned classifier head served in-process (an artifact folder)."""

    classifier: str


Target = ModelTarget | ClassifierTarget


class UnknownAnswer(Strict):
    """`unknown: {answer: none_of_these}`: the route answers this label itself for out-of-scope queries."""

    answer: str = Field(min_length=1)


UnknownSetting = Literal["escalate"] | UnknownAnswer


class RouteParams(Strict):
    """Defaults applied when the client does not send the parameter."""

    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)


class RouteConfig(Strict):
    """A route; `log_text: true` keeps each request's last user message and answer in the request log
    (off by default: the texts may be personal data), so `ragway finetune --from-logs` can learn from them."""

    task: TaskType = "generation"
    description: str = ""
    system_prompt: str = ""
    labels: list[str] = []
    targets: dict[str, Target]
    policy: PolicyConfig = FixedPolicy(kind="fixed", target="large")
    params: RouteParams = RouteParams()
    retrieval: RetrievalSettings = RetrievalSettings()
    cache: CacheSettings = CacheSettings()
    eval: EvalSettings | None = None
    log_text: bool = False
    # Vendor parameters this route forwards besides OpenAI's (e.g. `thinking` for Anthropic); other
    # unknown fields are dropped, or refused with a 400 when unknown_params is `refuse`.
    passthrough_params: Annotated[list[str], AfterValidator(check_passthrough)] = []
    unknown_params: Literal["drop", "refuse"] = "drop"

    # What the small model does with a query unlike anything it was trained on (below the out-of-scope
    # bar `ragway finetune` calibrates): `escalate` to a cascade's large target, or `{answer: <label>}`.
    unknown: UnknownSetting | None = None

    @model_validator(mode="after")
    def _unknown_fits(self) -> RouteConfig:
        if self.unknown is not None and self.task != "classification":
            raise ValueError("unknown: applies to classification routes only")
        if self.unknown == "escalate" and not isinstance(self.policy, CascadePolicy):
            raise ValueError("unknown: escalate needs a cascade policy (a large target to escalate to); "
                             "use unknown: {answer: <label>} to answer out-of-scope queries locally")
        return self
