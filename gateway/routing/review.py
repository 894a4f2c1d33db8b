"""A cascade's second step: keep the small target's answer, or escalate it to the large one."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from gateway.config.policy import CascadePolicy
from gateway.config.route import TaskType


@dataclass(frozen=True, slots=True)
class SmallAnswer:
    """What the small target said: the label (or whole answer text) and its confidence, if it reports one."""

    label: str
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Review:
    """Who answers after review: the small target when kept, the large one when escalated."""

    target: str
    reason: str
    escalated: bool


def review(
    policy: CascadePolicy,
    answer: SmallAnswer,
    labels: Collection[str],
    task: TaskType,
    *,
    calibrated: float | None = None,
) -> Review:
    """Keep *answer* unless it fails the route's format check or its confidence is below the bar.

    *calibrated* is the small model's calibrated threshold, used when the policy says `min_confidence: auto`.
    A small target that reports no confidence passes only a bar of 0.
    """
    problem = check_format(task, answer.label, labels)
    if problem is not None:
        return _escalate(policy, f"format check failed: {problem}")
    bar = calibrated if policy.min_confidence == "auto" else policy.min_confidence
    if bar is None:
        return _escalate(policy, "min_confidence is auto but the small target has no calibrated threshold")
    if answer.confidence is None:
        if bar > 0:
            return _escalate(policy, f"no confidence reported, bar is {bar:.2f}")
        return Review(target=policy.small, reason=f"cascade: format ok -> {policy.small}", escalated=False)
    if answer.confidence < bar:
        return _escalate(policy, f"confidence {answer.confidence:.2f} < {bar:.2f}")
    return Review(
        target=policy.small,
        reason=f"cascade: confidence {answer.confidence:.2f} >= {bar:.2f} -> {policy.small}",
        escalated=False,
    )


def check_format(task: TaskType, text: str, labels: Collection[str]) -> str | None:
    """Why *text* is not a valid answer for a *task* route, or None when it is."""
    if not text.strip():
        return "empty answer"
    if task == "classification":
        label = text.strip()
        if labels and label not in labels:
            return f"label {label[:80]!r} is not in the label set"
    if task == "extraction":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        if not isinstance(value, dict | list):
            return f"JSON is a {type(value).__name__}, not an object or array"
    return None


def _escalate(policy: CascadePolicy, why: str) -> Review:
    return Review(target=policy.large, reason=f"cascade: {why} -> {policy.large}", escalated=True)
