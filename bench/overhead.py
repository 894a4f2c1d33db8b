"""Overhead and throughput: each system against the same stub, at each concurrency, in one run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.bodies import write_bodies
from bench.load import Load, Result, Target, run_wrk
from bench.peers import Endpoint, stub_calls
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
    return [_measure(system, target, concurrency, plan, pid) for concurrency in plan.concurrencies]


def _measure(system: str, target: Target, concurrency: int, plan: Plan, pid: int | None) -> Row:
    """Warm up (discarded), then measure, counting what reached the stub and the CPU the server used."""
    load = Load.at(concurrency, plan.duration_s)
    if plan.warmup_s > 0:
        run_wrk(target, Load(load.connections, load.threads, plan.warmup_s))
    before, cpu_before = stub_calls(), tree_cpu_seconds(pid) if pid else 0.0
    result = run_wrk(target, load)
    after, cpu_after = stub_calls(), tree_cpu_seconds(pid) if pid else 0.0
    cpu_ms = 1000 * (cpu_after - cpu_before) / result.requests if pid and result.requests else None
    return Row(system, concurrency, result, upstream_calls=after - before if min(before, after) >= 0 else -1,
               cpu_ms=cpu_ms)


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
        stub = _baseline(rows, STUB_ROW, row.concurrency)
        litellm = _baseline(rows, LITELLM_ROW, row.concurrency)
        portkey = _baseline(rows, PORTKEY_ROW, row.concurrency)
        out.append(
            [
                row.system,
                row.concurrency,
                round(result.rps, 1),
                round(result.p50_ms, 2),
                round(result.p99_ms, 2),
                _diff(result.p50_ms, stub.p50_ms if stub else None),
                "—" if row.cpu_ms is None else f"{row.cpu_ms:.2f}",
                _ratio(result.rps, litellm.rps if litellm else None),
                _ratio(result.rps, portkey.rps if portkey else None),
                f"{result.errors} / {result.requests:,}",
                f"{row.upstream_calls:,}" if row.upstream_calls >= 0 else "?",
                row.note,
            ]
        )
    return out


def _diff(value: float, baseline: float | None) -> str:
    return "—" if baseline is None else f"{value - baseline:+.2f}"


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
        "*req/s ×* is the row's throughput divided by LiteLLM Proxy's or Portkey's at the same concurrency; "
        "*upstream calls* counts the chat requests the stub answered during the measured run (a cache hit makes none); "
        "*CPU ms / req* is the server's own processes' CPU time during the measured run divided by the requests it "
        "answered: unlike req/s it moves little with other work on the machine, and cores × 1000 / it bounds the "
        "req/s the server could reach with every core to itself (wrk and the stub need CPU too)."
    )
    return intro + "\n\n" + markdown_table(HEADERS, table_rows(rows))
