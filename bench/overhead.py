"""Overhead and throughput: each system against the same stub, at each concurrency, in one run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.bodies import write_bodies
from bench.load import Load, Result, Target, run_wrk
from bench.peers import Endpoint, stub, stub_calls
from bench.procs import tree_cpu_seconds
from bench.report import markdown_table

STUB_ROW = "stub (direct)"
LITELLM_ROW = "LiteLLM Proxy"
LITELLM_2W_ROW = "LiteLLM Proxy, 2 workers"
PORTKEY_ROW = "Portkey"
HEADERS = [
    "system",
    "conc.",
    "req/s",
    "p50 ms",
    "p99 ms",
    "overhead p50 ms",
    "CPU ms / req",
    "req/s × LiteLLM",
    "req/s × Portkey",
    "errors / requests",
    "upstream calls",
    "note",
]


@dataclass(frozen=True)
class Row:
    """One measured (or skipped) system at one concurrency."""

    system: str
    concurrency: int
    result: Result | None
    note: str = ""
    upstream_calls: int = -1
    cpu_ms: float | None = None
    """The server's own CPU (its process tree) per request answered in the measured run."""
    stub_p50_ms: float | None = None
    """The stub's own p50 at this concurrency measured right around this row (concurrency 1 only)."""


@dataclass(frozen=True)
class Plan:
    """What every system is measured with: the same inputs, concurrencies, duration and warm-up."""

    texts: list[str]
    concurrencies: Sequence[int]
    duration_s: float
    warmup_s: float
    bodies_dir: Path


def measure_endpoint(system: str, endpoint: Endpoint, model: str, plan: Plan, pid: int | None = None) -> list[Row]:
    """Measure one running endpoint at each of the plan's concurrencies; *pid*: its server, for CPU per request."""
    slug = "".join(c if c.isalnum() else "-" for c in f"{system}-{model}").lower()
    bodies = write_bodies(plan.bodies_dir / f"{slug}.jsonl", model, plan.texts)
    target = Target(endpoint.url, bodies, endpoint.headers)
    # the stub's own row needs no baseline of its own; every other row at concurrency 1 measures the stub around it
    around = _stub_target(plan) if system != STUB_ROW and 1 in plan.concurrencies else None
    return [_measure(system, target, concurrency, plan, pid, around if concurrency == 1 else None)
            for concurrency in plan.concurrencies]


def _measure(system: str, target: Target, concurrency: int, plan: Plan, pid: int | None,
             stub_target: Target | None) -> Row:
    """Warm up (discarded), then measure, counting what reached the stub and the CPU the server used. Given
    *stub_target*, the stub is measured too, just before and just after, for this row's own baseline."""
    load = Load.at(concurrency, plan.duration_s)
    before_stub = _stub_p50(stub_target, plan) if stub_target else None
    if plan.warmup_s > 0:
        run_wrk(target, Load(load.connections, load.threads, plan.warmup_s))
    before, cpu_before = stub_calls(), tree_cpu_seconds(pid) if pid else 0.0
    result = run_wrk(target, load)
    after, cpu_after = stub_calls(), tree_cpu_seconds(pid) if pid else 0.0
    cpu_ms = 1000 * (cpu_after - cpu_before) / result.requests if pid and result.requests else None
    stub_p50 = (before_stub + _stub_p50(stub_target, plan)) / 2 if stub_target and before_stub is not None else None
    return Row(system, concurrency, result, upstream_calls=after - before if min(before, after) >= 0 else -1,
               cpu_ms=cpu_ms, stub_p50_ms=stub_p50)


def _stub_target(plan: Plan) -> Target:
    endpoint = stub().endpoint
    bodies = write_bodies(plan.bodies_dir / "stub-adjacent.jsonl", "stub", plan.texts)
    return Target(endpoint.url, bodies, endpoint.headers)


def _stub_p50(stub_target: Target, plan: Plan) -> float:
    """The stub's own p50 at concurrency 1 now, over half the row's duration: the host drifts between rows
    (its idle-wake cost most of all), so a row 10 minutes after the stub's own row is compared with the
    stub as it answers around that row."""
    return run_wrk(stub_target, Load.at(1, plan.duration_s / 2)).p50_ms


def overhead_p50(row: Row, rows: Sequence[Row]) -> float | None:
    """The row's p50 minus the stub's: the stub measured around the row when it was, else the stub's row."""
    if row.result is None:
        return None
    if row.stub_p50_ms is not None:
        return row.result.p50_ms - row.stub_p50_ms
    stub_row = _baseline(rows, STUB_ROW, row.concurrency)
    return row.result.p50_ms - stub_row.p50_ms if stub_row else None


def skipped(system: str, plan: Plan, reason: str) -> list[Row]:
    return [Row(system, concurrency, None, reason) for concurrency in plan.concurrencies]


def _baseline(rows: Sequence[Row], system: str, concurrency: int) -> Result | None:
    for row in rows:
        if row.system == system and row.concurrency == concurrency:
            return row.result
    return None


def table_rows(rows: Sequence[Row]) -> list[list[object]]:
    """Rows with the overhead against the stub and the throughput ratios against both peers."""
    out: list[list[object]] = []
    for row in rows:
        if row.result is None:
            out.append([row.system, row.concurrency, *["—"] * 9, row.note])
            continue
        result = row.result
        overhead = overhead_p50(row, rows)
        litellm = _baseline(rows, LITELLM_ROW, row.concurrency)
        portkey = _baseline(rows, PORTKEY_ROW, row.concurrency)
        out.append(
            [
                row.system,
                row.concurrency,
                round(result.rps, 1),
                round(result.p50_ms, 2),
                round(result.p99_ms, 2),
                "—" if overhead is None else f"{overhead:+.2f}",
                "—" if row.cpu_ms is None else f"{row.cpu_ms:.2f}",
                _ratio(result.rps, litellm.rps if litellm else None),
                _ratio(result.rps, portkey.rps if portkey else None),
                f"{result.errors} / {result.requests:,}",
                f"{row.upstream_calls:,}" if row.upstream_calls >= 0 else "?",
                row.note,
            ]
        )
    return out


def _ratio(value: float, baseline: float | None) -> str:
    return "—" if not baseline else f"{value / baseline:.2f}×"


def markdown(rows: Sequence[Row], plan: Plan) -> str:
    """The section text: how it was measured, then the table."""
    conc = " and ".join(str(c) for c in plan.concurrencies)
    intro = (
        f"wrk, closed loop, concurrency {conc} (`-t1 -c1`, `-t2 -cN`), {plan.duration_s:.0f} s measured after a "
        f"{plan.warmup_s:.0f} s warm-up at the same concurrency (discarded); {len(plan.texts)} different banking77 "
        "questions cycled, `max_tokens` 16. Every system forwards to the same zero-latency stub upstream "
        "(`bench/stub_upstream.py`). *overhead p50* is the row's p50 minus the stub's p50 at the same concurrency; "
        "at concurrency 1 the stub is measured again right before and right after each row (half a row's duration "
        "each) and the mean of those two p50s is that row's baseline, because this shared host's latency drifts "
        "between rows further apart in time than the overheads being compared; "
        "*req/s ×* is the row's throughput divided by LiteLLM Proxy's or Portkey's at the same concurrency; "
        "*upstream calls* counts the chat requests the stub answered during the measured run (a cache hit makes none); "
        "*CPU ms / req* is the server's own processes' CPU time during the measured run divided by the requests it "
        "answered: unlike req/s it moves little with other work on the machine, and cores × 1000 / it bounds the "
        "req/s the server could reach with every core to itself (wrk and the stub need CPU too)."
    )
    return intro + "\n\n" + markdown_table(HEADERS, table_rows(rows))
