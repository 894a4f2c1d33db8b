"""The issue's targets checked against the rows of this run: met or missed, and by how much."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bench import memory
from bench.overhead import PORTKEY_ROW, Row, overhead_p50
from bench.profile import Frames
from bench.ragway_rows import CACHE_HIT, PASSTHROUGH, RAG, RAG_TWO_WORKERS, REDIS_HIT
from bench.report import markdown_table

TITLE = "Targets"
Measure = Callable[[Row, Sequence[Row]], float | None]


@dataclass(frozen=True)
class Check:
    """One target: which row at which concurrency, what is measured, and the bound."""

    text: str
    system: str
    concurrency: int
    measure: Measure
    bound: Callable[[Sequence[Row]], float | None]
    at_most: bool
    unit: str
    profile: str = "passthrough"


def _find(rows: Sequence[Row], system: str, concurrency: int) -> Row | None:
    return next((r for r in rows if r.system == system and r.concurrency == concurrency and r.result), None)


def _rps(row: Row, rows: Sequence[Row]) -> float | None:
    return row.result.rps if row.result else None


def _p50(row: Row, rows: Sequence[Row]) -> float | None:
    return row.result.p50_ms if row.result else None


def _twice_portkey_rps(rows: Sequence[Row]) -> float | None:
    portkey = _find(rows, PORTKEY_ROW, 32)
    return 2 * portkey.result.rps if portkey and portkey.result else None


CHECKS = [
    Check("passthrough overhead p50, concurrency 1", PASSTHROUGH, 1, overhead_p50, lambda _: 0.5, True, "ms"),
    Check("passthrough req/s at least 2x Portkey's, concurrency 32", PASSTHROUGH, 32, _rps, _twice_portkey_rps,
          False, "req/s"),
    Check("RAG overhead p50, concurrency 1", RAG, 1, overhead_p50, lambda _: 5.0, True, "ms", "RAG"),
    Check("RAG req/s, concurrency 32, 1 worker", RAG, 32, _rps, lambda _: 600.0, False, "req/s", "RAG"),
    Check("RAG req/s, concurrency 32, 2 workers (one per core)", RAG_TWO_WORKERS, 32, _rps, lambda _: 1000.0, False,
          "req/s", "RAG"),
    Check("cache hit p50 (in-process), concurrency 1", CACHE_HIT, 1, _p50, lambda _: 1.0, True, "ms"),
    Check("cache hit p50 (Redis), concurrency 1", REDIS_HIT, 1, _p50, lambda _: 2.0, True, "ms"),
]


def verdicts(rows: Sequence[Row], profiles: Mapping[str, Frames] | None = None) -> list[list[object]]:
    """[target, bound, measured, verdict, what bounds it] per check; a row that did not run says so."""
    out: list[list[object]] = []
    for check in CHECKS:
        row = _find(rows, check.system, check.concurrency)
        value = check.measure(row, rows) if row else None
        bound = check.bound(rows)
        if value is None or bound is None:
            out.append([check.text, "—", "—", "not measured", ""])
            continue
        met = value <= bound if check.at_most else value >= bound
        verdict = "met" if met else f"missed by {abs(value - bound):,.2f} {check.unit}"
        sign = "≤" if check.at_most else "≥"
        frames = (profiles or {}).get(check.profile)
        bounds = "" if met else "; ".join(filter(None, [cpu_ceiling(row), top_packages(frames) if frames else ""]))
        out.append([check.text, f"{sign} {bound:,.2f} {check.unit}", f"{value:,.2f} {check.unit}", verdict, bounds])
    return out


def cpu_ceiling(row: Row | None) -> str:
    """`4.52 ms CPU per request: at most 442 req/s on 2 cores`: what the server's own CPU allows at best."""
    if row is None or not row.cpu_ms:
        return ""
    cores = os.cpu_count() or 1
    return (f"{row.cpu_ms:.2f} ms of server CPU per request: at most {cores * 1000 / row.cpu_ms:,.0f} req/s on "
            f"{cores} cores with nothing else running")


def top_packages(frames: Frames, top: int = 4) -> str:
    """`anyio 28%, threading 15%, ...`: where the profiled route's CPU went, by package."""
    if frames.samples == 0:
        return ""
    shares = [f"{name} {100 * n / frames.samples:.0f}%" for name, n in frames.by_package().most_common(top)]
    return f"{frames.samples:,} samples, own time: " + ", ".join(shares)


def memory_verdict(growth: float | None) -> list[object]:
    text = "RSS growth on the RAG route between the memory checkpoints"
    if growth is None:
        return [text, "—", "—", "not measured", ""]
    limit = memory.GROWTH_LIMIT
    verdict = "met" if growth < limit else f"missed by {100 * (growth - limit):.1f} points"
    return [text, f"< {limit:.0%}", f"{growth:+.1%}", verdict, ""]


def bound_verdict(text: str, value: float | None, bound: float, unit: str, at_most: bool = True) -> list[object]:
    """One closing-table row for a number measured outside the wrk rows (index search, cold start)."""
    sign = "≤" if at_most else "≥"
    if value is None:
        return [text, f"{sign} {bound:,.2f} {unit}", "—", "not measured", ""]
    met = value <= bound if at_most else value >= bound
    verdict = "met" if met else f"missed by {abs(value - bound):,.2f} {unit}"
    return [text, f"{sign} {bound:,.2f} {unit}", f"{value:,.2f} {unit}", verdict, ""]


def markdown(
    rows: Sequence[Row], memory_growth: float | None, profiles: Mapping[str, Frames], load: tuple[float, ...],
    extra: Sequence[list[object]] = (),
) -> str:
    """The closing table, and the machine's load when it was busy enough to bound every row."""
    table = [*verdicts(rows, profiles), memory_verdict(memory_growth), *extra]
    text = markdown_table(["target", "bound", "measured", "verdict", "what bounds it (profile)"], table)
    cores = os.cpu_count() or 1
    if load and load[0] > cores / 2:
        text += (
            f"\n\nThe machine was busy: load average {load[0]:.2f} on {cores} cores when the run started "
            "(other work besides this benchmark). Every row shares those cores with wrk and the stub, so the absolute "
            "numbers are low for all systems alike; the ratios, measured in the same minutes, hold better."
        )
    return text
