"""The bounded semantic cache: serve a hit only where the learned wrong-hit share stays under a bound.

A would-be hit falls in a *cell*: its agreement level (how many of the nearest cached neighbours,
counted from the nearest, carry the nearest one's answer, rounded down to a LEVELS value) and the
nearest one's similarity in steps of SCORE_STEP. Each cell counts would-be hits and the wrong ones
among them (the model answered differently). Evidence comes for free from misses (the model's answer
against the nearest cached one), from verified hits, and from pre-training on labelled pairs.

Within a level, the region served is every similarity from a cut-off up. One number picks all the
cut-offs: the largest tolerance t such that, when each level serves from the lowest step whose
region's one-sided Clopper-Pearson upper bound on its wrong share (at the route's confidence) is at
most t, the union of those regions has an upper bound of at most `max_error`. That bound is the
error reported with each hit. Admitting regions by their bound rather than their observed share
keeps thin evidence out (a handful of near-duplicates that happened to agree), and nested regions
with a single tuned number keep the choice from chasing noise in single cells: on banking77 the
wrong share served stayed under the bound at 0.5%, 1% and 2% (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

from gateway.cache.semantic import Neighbour

SCORE_STEP = 0.01
LEVELS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64)
# A served cell with fewer observations than this is always verified; past it the share falls as
# VERIFY_UNTIL / n down to the route's `verify_share`.
VERIFY_UNTIL = 10
Counts = Mapping[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Cell:
    """A neighbourhood of would-be hits: agreement level and similarity step of the nearest entry."""

    agree: int
    step: int

    @property
    def field(self) -> str:
        return f"{self.agree}:{self.step}"

    @classmethod
    def parse(cls, field: str) -> Cell:
        agree, step = field.split(":")
        return cls(int(agree), int(step))


def make_cell(answers: Sequence[str], score: float) -> Cell:
    """The cell of a would-be hit whose neighbours (nearest first) have *answers*; unknown ones never agree."""
    run = 0
    if answers and answers[0]:
        while run < len(answers) and answers[run] == answers[0]:
            run += 1
    level = max((level for level in LEVELS if level <= run), default=0)
    return Cell(level, math.floor(min(score, 1.0) / SCORE_STEP + 1e-9))


def cell_of(neighbours: Sequence[Neighbour]) -> Cell:
    return make_cell([n.answer for n in neighbours], neighbours[0].score)


def upper_bound(wrong: np.ndarray, total: np.ndarray, confidence: float) -> np.ndarray:
    """One-sided Clopper-Pearson upper bounds of wrong/total; 1 where there is no evidence."""
    wrong = np.asarray(wrong, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    out = np.ones_like(total)
    some = (total > 0) & (wrong < total)
    out[some] = beta.ppf(confidence, wrong[some] + 1, total[some] - wrong[some])
    return out


@dataclass(frozen=True, slots=True)
class _Level:
    steps: np.ndarray  # descending
    totals: np.ndarray  # cumulative from the top step down
    wrongs: np.ndarray

    def region(self, step: int) -> tuple[int, int]:
        """(total, wrong) of the smallest region "from an observed step up" that holds *step*."""
        below = np.nonzero(self.steps <= step)[0]
        return (int(self.totals[below[0]]), int(self.wrongs[below[0]])) if len(below) else (0, 0)


class BoundTable:
    """The cut-off step of each agreement level, and the bound of the union they serve."""

    def __init__(self, counts: Counts, confidence: float, max_error: float) -> None:
        self.max_error = max_error
        self.confidence = confidence
        self._cells = dict(counts)
        by_level: dict[int, dict[int, tuple[int, int]]] = {}
        for field, pair in counts.items():
            cell = Cell.parse(field)
            by_level.setdefault(cell.agree, {})[cell.step] = pair
        self._levels: dict[int, _Level] = {}
        for level, steps in by_level.items():
            ordered = sorted(steps, reverse=True)
            self._levels[level] = _Level(np.asarray(ordered), np.cumsum([steps[s][0] for s in ordered]),
                                         np.cumsum([steps[s][1] for s in ordered]))
        self.cutoffs, self.union_bound = self._fit()

    def _fit(self) -> tuple[dict[int, int], float | None]:
        # Regions are admitted by their own upper bound, not their observed share: a small region with
        # no wrong hit yet (14 near-duplicates, all right) has a bound near 20% and stays out.
        bounds = {level: upper_bound(lv.wrongs, lv.totals, self.confidence) for level, lv in self._levels.items()}
        best: tuple[dict[int, int], float | None] = ({}, None)
        for tolerance in sorted({float(b) for values in bounds.values() for b in values}):
            cutoffs, total, wrong = {}, 0, 0
            for level, lv in self._levels.items():
                ok = np.nonzero(bounds[level] <= tolerance)[0]
                if len(ok):
                    cutoffs[level] = int(lv.steps[ok[-1]])
                    total, wrong = total + int(lv.totals[ok[-1]]), wrong + int(lv.wrongs[ok[-1]])
            bound = float(upper_bound(np.array([wrong]), np.array([total]), self.confidence)[0])
            if total and bound <= self.max_error:
                best = (cutoffs, bound)
        return best

    def bound(self, cell: Cell) -> float | None:
        """The union's bound when *cell* is in a served region, else None."""
        cutoff = self.cutoffs.get(cell.agree)
        return self.union_bound if cutoff is not None and cell.step >= cutoff else None

    def estimate(self, cell: Cell) -> float | None:
        """The bound of the smallest region of *cell*'s level that holds it (what a threshold hit risks)."""
        level = self._levels.get(cell.agree)
        if level is None:
            return None
        total, wrong = level.region(cell.step)
        return float(upper_bound(np.array([wrong]), np.array([total]), self.confidence)[0]) if total else None

    def observed(self, cell: Cell) -> int:
        return self._cells.get(cell.field, (0, 0))[0]

    def cutoff_scores(self) -> dict[int, float]:
        """agreement level -> lowest similarity served (for reports)."""
        return {level: step * SCORE_STEP for level, step in sorted(self.cutoffs.items())}


def verify_probability(observed: int, floor: float) -> float:
    """Always verify a hit from a cell with little evidence; less as it grows, never under *floor*.

    Verification firms up or overturns thin evidence; the floor keeps watching well-known cells for
    drift (a model or data change that makes cached answers wrong).
    """
    return max(floor, min(1.0, VERIFY_UNTIL / (observed + 1)))


@dataclass(frozen=True, slots=True)
class Observation:
    cell: Cell
    wrong: bool


def observations_by_leave_one_out(
    vectors: np.ndarray, answers: Sequence[str], k: int, floor: float, batch: int = 512
) -> Iterable[Observation]:
    """Pre-training evidence from labelled pairs: each one asked against all the others.

    *vectors* are L2-normalised request vectors and *answers* their answer digests. A pair whose
    nearest other pair is under *floor* would never be a candidate, so it gives no evidence.
    """
    answers_arr = np.asarray(answers)
    k = min(k, len(vectors) - 1)
    for start in range(0, len(vectors), batch):
        scores = vectors[start:start + batch] @ vectors.T
        rows = np.arange(scores.shape[0])
        scores[rows, rows + start] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for row, cols in enumerate(top):
            cols = cols[np.argsort(-scores[row, cols])]
            best = float(scores[row, cols[0]])
            if best >= floor:
                cell = make_cell(list(answers_arr[cols]), best)
                yield Observation(cell, bool(answers_arr[cols[0]] != answers_arr[start + row]))
