"""What a policy may look at: the request, its nearest examples, and recent per-target stats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """Facts about one request known before any call. `user` is the OpenAI `user` field."""

    request_id: str
    user: str | None = None
    text_chars: int = 0


class ExampleHit(Protocol):
    """A retrieved example: how close it is and the output it was labelled with."""

    @property
    def score(self) -> float: ...

    @property
    def output(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Neighbour:
    label: str | None
    score: float


@dataclass(frozen=True, slots=True)
class Agreement:
    """How many of the nearest examples share the most common label."""

    label: str | None
    count: int
    total: int

    @property
    def share(self) -> float:
        return self.count / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class RetrievalSignals:
    """The nearest examples of a request, closest first."""

    neighbours: tuple[Neighbour, ...] = ()

    @classmethod
    def from_hits(cls, hits: Iterable[ExampleHit]) -> RetrievalSignals:
        ordered = sorted(hits, key=lambda hit: hit.score, reverse=True)
        return cls(tuple(Neighbour(label=hit.output, score=float(hit.score)) for hit in ordered))

    @property
    def top_score(self) -> float | None:
        return self.neighbours[0].score if self.neighbours else None

    def agreement(self) -> Agreement:
        """The most common label among neighbours; unlabelled neighbours count against it."""
        counts = Counter(n.label for n in self.neighbours if n.label is not None)
        if not counts:
            return Agreement(label=None, count=0, total=len(self.neighbours))
        label, count = counts.most_common(1)[0]
        return Agreement(label=label, count=count, total=len(self.neighbours))


@dataclass(frozen=True, slots=True)
class RouteStats:
    """Recent error rate (0..1) per target name; a target not listed has no recent errors."""

    error_rates: Mapping[str, float] = field(default_factory=dict)

    def error_rate(self, target: str) -> float:
        return self.error_rates.get(target, 0.0)
