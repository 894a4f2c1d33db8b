"""Memory: the gateway's resident set after N requests on one route, and its growth between checkpoints."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.load import Load, Target, run_wrk
from bench.procs import tree_rss_bytes
from bench.report import markdown_table

GROWTH_LIMIT = 0.10
_MAX_CHUNK_S = 30.0


@dataclass(frozen=True)
class Checkpoint:
    requests: int
    rss_bytes: int
    errors: int


def rss_checkpoints(
    pid: int, target: Target, checkpoints: Sequence[int], budget_s: float, concurrency: int = 32
) -> list[Checkpoint]:
    """Drive *target* in wrk runs sized from the measured rate, reading RSS as each checkpoint is passed.

    wrk has no request count, only a duration, so each run is sized from the last run's rate to land
    just past the next checkpoint; the table reports the counts actually reached. When *budget_s* runs
    out first, the last point is read where the run stopped.
    """
    deadline = time.monotonic() + budget_s
    sent, errors, rate = 0, 0, 0.0
    points = [Checkpoint(0, tree_rss_bytes(pid), 0)]
    for goal in sorted(checkpoints):
        while sent < goal and time.monotonic() < deadline:
            seconds = 2.0 if rate == 0 else min(_MAX_CHUNK_S, max(1.0, math.ceil((goal - sent) / rate)))
            result = run_wrk(target, Load.at(concurrency, seconds))
            sent += result.requests
            errors += result.errors
            rate = result.rps or 1.0
        points.append(Checkpoint(sent, tree_rss_bytes(pid), errors))
        if sent < goal:
            break
    return points


def growth(points: Sequence[Checkpoint]) -> float | None:
    """Relative RSS growth from the first checkpoint after start to the last; None without two checkpoints."""
    if len(points) < 3:
        return None
    first, last = points[1], points[-1]
    return (last.rss_bytes - first.rss_bytes) / first.rss_bytes


def markdown(system: str, route: str, points: Sequence[Checkpoint], goal: int) -> str:
    rows = [
        [f"{p.requests:,}" if p.requests else "after start-up", round(p.rss_bytes / 2**20, 1), p.errors]
        for p in points
    ]
    intro = (
        f"{system}, route `{route}`, wrk at concurrency 32 over varied inputs; RSS of the server process and its "
        "children from /proc."
    )
    return "\n\n".join([intro, markdown_table(["requests", "RSS MiB", "errors"], rows), _closing(points, goal)])


def _closing(points: Sequence[Checkpoint], goal: int) -> str:
    change = growth(points)
    if change is None:
        return f"Stopped at {points[-1].requests:,} requests, before a second checkpoint: no growth to report."
    verdict = "within" if change < GROWTH_LIMIT else "OVER"
    text = (
        f"Growth from {points[1].requests:,} to {points[-1].requests:,} requests: **{change:+.1%}** "
        f"({verdict} the {GROWTH_LIMIT:.0%} limit)."
    )
    if points[-1].requests < goal:
        text += f" The time budget ran out at {points[-1].requests:,} of the {goal:,} requests planned."
    return text
