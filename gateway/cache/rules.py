"""Which rule lets a cached neighbour answer a request: threshold, agreement or bounded.

Every rule first needs the nearest neighbour at or above the route's similarity threshold and the
contrast guard's consent. `threshold` needs nothing more; `agreement` needs `min_agreement` of the
`neighbours` nearest to carry the same answer; `bounded` needs the learned bound of the neighbour's
cell to be within `max_error`. A would-be hit that is refused keeps its cell, so the model's answer
on the miss can teach the bound.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.cache.bounded import Cell, cell_of, verify_probability
from gateway.cache.contrast import Signature, differs
from gateway.cache.evidence import Evidence
from gateway.cache.semantic import Neighbour
from gateway.config.route_sections import SemanticSettings


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rule decided about the nearest neighbour (`key`), and what a miss can learn from."""

    serve: bool
    rule: str
    key: str
    score: float
    answer: str
    cell: Cell | None
    error: float | None = None
    verify: bool = False
    blocked: str | None = None


def judge(
    neighbours: Sequence[Neighbour],
    asked: Signature,
    threshold: float,
    settings: SemanticSettings,
    evidence: Evidence,
    space: str,
    rng: random.Random,
) -> Verdict | None:
    """The verdict on the nearest of *neighbours*; None when there is no candidate at all."""
    if not neighbours or neighbours[0].score < threshold:
        return None
    top, rule = neighbours[0], settings.active_rule
    cell = cell_of(neighbours)
    base = Verdict(serve=False, rule=rule, key=top.key, score=min(top.score, 1.0), answer=top.answer, cell=cell)
    blocked = differs(asked, top.signature) if settings.guard else None
    if blocked is not None:
        # Never served, whatever the evidence: so not evidence either.
        return Verdict(False, rule, top.key, base.score, top.answer, None, blocked=blocked)
    max_error = settings.max_error if settings.max_error is not None else 1.0
    table = evidence.table(space, settings.confidence, max_error)
    if rule == "bounded":
        bound = table.bound(cell)
        if bound is None:
            return base
        verify = rng.random() < verify_probability(table.observed(cell), settings.verify_share)
        return _served(base, bound, verify)
    if rule == "agreement" and _agreeing(neighbours) < settings.min_agreement * settings.neighbours:
        return base
    return _served(base, table.estimate(cell), rng.random() < settings.verify_share)


def _agreeing(neighbours: Sequence[Neighbour]) -> int:
    top = neighbours[0].answer
    return sum(1 for n in neighbours if top and n.answer == top)


def _served(base: Verdict, error: float | None, verify: bool) -> Verdict:
    return Verdict(True, base.rule, base.key, base.score, base.answer, base.cell, error=error, verify=verify)
