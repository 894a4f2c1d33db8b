"""What the bounded cache has learned: per space (route and version), wrong-hit counts per cell.

Evidence keeps the counts in this process; RedisEvidence (gateway/cache/redis_evidence.py) adds every
observation to a Redis hash shared by all replicas and mirrors the hash back here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from gateway.cache.bounded import BoundTable, Cell, Counts, Observation


class Evidence:
    """Counts per space and cell, with the bound table of each space rebuilt when counts change.

    A rebuild fits the cut-offs again (milliseconds), so it waits until `rebuild_s` have passed or
    `rebuild_after` observations arrived: the table in use meanwhile only lags the newest evidence.
    """

    def __init__(self, rebuild_s: float = 0.5, clock: Callable[[], float] = time.monotonic,
                 rebuild_after: int = 1000) -> None:
        self._rebuild_after = rebuild_after
        self._counts: dict[str, dict[str, tuple[int, int]]] = {}
        self._version: dict[str, int] = {}
        self._tables: dict[tuple[str, float, float], tuple[int, float, BoundTable]] = {}
        self._rebuild_s = rebuild_s
        self._clock = clock
        self._claimed: set[str] = set()

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def counts(self, space: str) -> Counts:
        return dict(self._counts.get(space, {}))

    def table(self, space: str, confidence: float, max_error: float) -> BoundTable:
        version, now = self._version.get(space, 0), self._clock()
        key = (space, confidence, max_error)
        cached = self._tables.get(key)
        if cached is None or (cached[0] != version and (now - cached[1] >= self._rebuild_s
                                                        or version - cached[0] >= self._rebuild_after)):
            cached = (version, now, BoundTable(self._counts.get(space, {}), confidence, max_error))
            self._tables[key] = cached
        return cached[2]

    async def claim(self, space: str) -> bool:
        """True once per space: pre-training happens once, however many replicas start."""
        if space in self._claimed:
            return False
        self._claimed.add(space)
        return True

    async def observe(self, space: str, cell: Cell, wrong: bool) -> None:
        self.add_local(space, {cell.field: (1, int(wrong))})

    async def pretrain(self, space: str, observations: Iterable[Observation]) -> int:
        """Add labelled evidence (e.g. from `observations_by_leave_one_out`); returns how many."""
        batch: dict[str, tuple[int, int]] = {}
        for obs in observations:
            total, wrong = batch.get(obs.cell.field, (0, 0))
            batch[obs.cell.field] = (total + 1, wrong + int(obs.wrong))
        self.add_local(space, batch)
        return sum(total for total, _ in batch.values())

    def add_local(self, space: str, batch: Counts) -> None:
        counts = self._counts.setdefault(space, {})
        for field, (total, wrong) in batch.items():
            old_total, old_wrong = counts.get(field, (0, 0))
            counts[field] = (old_total + total, old_wrong + wrong)
        self._version[space] = self._version.get(space, 0) + 1

    def replace(self, space: str, counts: Counts) -> None:
        """Take the shared store's counts for *space* as this process's view."""
        if self._counts.get(space) != counts:
            self._counts[space] = dict(counts)
            self._version[space] = self._version.get(space, 0) + 1

    def spaces(self) -> list[str]:
        return list(self._counts)
