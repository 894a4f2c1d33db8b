"""Who answered what, and how well: per-target slices, misses and out-of-scope handling of one variant.

A cascade's answers split by target: the ones the small model kept (local) and the ones it
escalated. Overall accuracy hides whether escalating helps, so each slice is scored alone, and
the small model's own answers on the escalated slice are scored beside the large model's: when
the large model is worse there, every escalation costs accuracy as well as money.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Gold labels that mean "none of the intents" when --oos-label is not given.
OOS_NAMES = ("oos", "out_of_scope", "out-of-scope", "none", "unknown")


@dataclass(frozen=True)
class Scored:
    """One gold example as answered: the label the answer names (classification), or the raw text."""

    line: int
    input: str
    expected: Any
    got: str | None
    target: str
    correct: bool
    error: str = ""


@dataclass(frozen=True)
class TargetSlice:
    """The answers one target gave: share of all examples, accuracy on them, answers outside the label set."""

    target: str
    n: int
    coverage: float
    accuracy: float
    off_label: int

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "n": self.n, "coverage": self.coverage, "accuracy": self.accuracy,
                "off_label": self.off_label}


@dataclass(frozen=True)
class OutOfScope:
    """Out-of-scope gold rows (label *label*) and what the variant did with them."""

    label: str
    n: int
    answered_in_scope: int
    answered_in_scope_locally: int
    in_scope_called_oos: int

    @property
    def rate(self) -> float:
        """Share of out-of-scope queries that got an in-scope label (lower is better)."""
        return self.answered_in_scope / self.n if self.n else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "n": self.n, "answered_in_scope": self.answered_in_scope,
                "answered_in_scope_locally": self.answered_in_scope_locally,
                "in_scope_called_oos": self.in_scope_called_oos, "rate": self.rate}


@dataclass(frozen=True)
class Escalation:
    """A cascade's escalated slice answered by the large target, beside the small target's own answers to it."""

    n: int
    large_accuracy: float
    small_accuracy: float

    @property
    def helps(self) -> bool:
        return self.large_accuracy > self.small_accuracy

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "large_accuracy": self.large_accuracy, "small_accuracy": self.small_accuracy,
                "helps": self.helps}

    def verdict(self) -> str:
        gap = f"large {self.large_accuracy:.1%} vs small {self.small_accuracy:.1%} on the {self.n} escalated"
        if self.helps:
            return f"escalation helps: {gap}"
        return (f"escalation does not help: {gap}; serve the small model alone (policy fixed) "
                f"or try a different large model")


def target_slices(scored: Sequence[Scored], labels: Collection[str]) -> tuple[TargetSlice, ...]:
    """One slice per target that answered, largest first; an answer outside *labels* counts as off-label."""
    total = len(scored)
    by_target: dict[str, list[Scored]] = {}
    for item in scored:
        if not item.error:
            by_target.setdefault(item.target, []).append(item)
    slices = [
        TargetSlice(
            target=target,
            n=len(items),
            coverage=len(items) / total if total else 0.0,
            accuracy=sum(i.correct for i in items) / len(items),
            off_label=sum(1 for i in items if labels and i.got not in labels),
        )
        for target, items in by_target.items()
    ]
    return tuple(sorted(slices, key=lambda s: -s.n))


def escalation(cascade: Sequence[Scored], small: Mapping[int, Scored], small_target: str) -> Escalation | None:
    """The cascade's escalated answers against the small variant's answers (*small*, by gold line) to them."""
    escalated = [item for item in cascade if not item.error and item.target != small_target]
    paired = [(item, small[item.line]) for item in escalated if item.line in small]
    if not paired:
        return None
    return Escalation(
        n=len(paired),
        large_accuracy=sum(big.correct for big, _ in paired) / len(paired),
        small_accuracy=sum(own.correct for _, own in paired) / len(paired),
    )


def out_of_scope(scored: Sequence[Scored], label: str | None, small_target: str | None) -> OutOfScope | None:
    """How the variant treated gold rows labelled *label*; None without such rows."""
    if label is None:
        return None
    oos = [item for item in scored if item.expected == label]
    if not oos:
        return None
    in_scope = [item for item in oos if item.got is not None and item.got != label and not item.error]
    return OutOfScope(
        label=label,
        n=len(oos),
        answered_in_scope=len(in_scope),
        answered_in_scope_locally=sum(1 for item in in_scope if item.target == small_target),
        in_scope_called_oos=sum(1 for item in scored if item.expected != label and item.got == label),
    )


def oos_label(expected: Collection[Any], given: str | None) -> str | None:
    """The gold label meaning out-of-scope: *given*, else a conventional name present in the data."""
    if given is not None:
        return given
    present = {value for value in expected if isinstance(value, str)}
    return next((name for name in OOS_NAMES if name in present), None)


def misses(scored: Sequence[Scored]) -> tuple[Scored, ...]:
    """The examples answered wrongly or not at all, in gold order."""
    return tuple(item for item in scored if not item.correct)
