"""Drive a server with wrk (a separate process) and read back its JSON summary."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError

SCRIPT = Path(__file__).parent / "wrk" / "chat.lua"


@dataclass(frozen=True)
class Target:
    """One endpoint under test and what every request to it carries."""

    url: str
    bodies: Path
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Load:
    """wrk's shape: closed-loop connections spread over threads."""

    connections: int
    threads: int
    duration_s: float

    @classmethod
    def at(cls, concurrency: int, duration_s: float) -> Load:
        return cls(concurrency, 1 if concurrency == 1 else 2, duration_s)


@dataclass(frozen=True)
class Result:
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float

    @classmethod
    def from_wrk(cls, data: dict) -> Result:
        seconds = data["duration_us"] / 1e6
        return cls(
            requests=data["requests"],
            errors=data["errors"] + data["status_errors"],
            rps=data["requests"] / seconds if seconds else 0.0,
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            mean_ms=data["mean_us"] / 1000,
        )


def run_wrk(target: Target, load: Load) -> Result:
    """Run wrk once against *target* for the load's fixed duration."""
    argv = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.duration_s:.0f}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        target.url,
        "--",
        str(target.bodies),
        *target.headers,
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=load.duration_s + 60, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk against {target.url} did not finish") from None
    return Result.from_wrk(_summary(done.stdout, done.stderr, target.url))


def _summary(stdout: str, stderr: str, url: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise BenchError(f"wrk against {url} printed no summary: {(stderr or stdout).strip()[:300]}")
