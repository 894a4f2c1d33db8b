"""py-spy profiles of a server under wrk load: an SVG flamegraph plus the top frames as a table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.load import SCRIPT as WRK_SCRIPT
from bench.load import Load, Target
from bench.procs import BenchError
from bench.report import markdown_table

RATE_HZ = 100


PROJECT_PACKAGES = ("gateway/", "retrieval/")


@dataclass(frozen=True)
class Frames:
    """Sample counts per frame: self (the frame was running) and total (it was on the stack)."""

    samples: int
    self_counts: Counter[str]
    total_counts: Counter[str]

    def by_package(self) -> Counter[str]:
        """Own time summed per top-level package (`httpx`, `gateway`, `threading`, ...)."""
        packages: Counter[str] = Counter()
        for frame, count in self.self_counts.items():
            packages[package_of(frame)] += count
        return packages

    def project_frames(self) -> Counter[str]:
        """Time on the stack of ragway's own functions: where the request path spends it."""
        return Counter(
            {f: n for f, n in self.total_counts.items() if _where(f).startswith(PROJECT_PACKAGES) and "/cli/" not in f}
        )


def py_spy() -> str:
    """The py-spy beside this interpreter (a dev dependency), else the one on PATH."""
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if not found:
        raise BenchError("py-spy not found: install the dev dependencies (pip install -e '.[dev]')")
    return found


def record(pid: int, target: Target, svg: Path, raw: Path, duration_s: float, concurrency: int = 32) -> Frames:
    """Profile *pid* while wrk drives *target*; the flamegraph and the collapsed stacks come from one window."""
    svg.parent.mkdir(parents=True, exist_ok=True)
    raw.parent.mkdir(parents=True, exist_ok=True)
    load = Load.at(concurrency, duration_s + 4)
    wrk_argv = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{load.duration_s:.0f}s", "-s"]
    wrk_argv += [str(WRK_SCRIPT), target.url, "--", str(target.bodies), *target.headers]
    wrk = subprocess.Popen(wrk_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        spies = [_spy(pid, duration_s, "flamegraph", svg), _spy(pid, duration_s, "raw", raw)]
        for spy in spies:
            _finish(spy, duration_s)
    finally:
        wrk.kill()
        wrk.wait()
    return parse_collapsed(raw.read_text(encoding="utf-8"))


def _spy(pid: int, duration_s: float, fmt: str, out: Path) -> subprocess.Popen:
    # --nonblocking: reading the stacks without pausing the server keeps the profile from slowing what it measures
    argv = [py_spy(), "record", "--pid", str(pid), "--duration", f"{duration_s:.0f}", "--rate", str(RATE_HZ)]
    argv += ["--nonblocking", "--subprocesses", "--format", fmt, "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(spy: subprocess.Popen, duration_s: float) -> None:
    try:
        _, err = spy.communicate(timeout=duration_s + 60)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()
        raise BenchError("py-spy did not finish") from None
    if spy.returncode != 0:
        raise BenchError(f"py-spy failed: {err.strip()[-300:]}")


def parse_collapsed(text: str) -> Frames:
    """Parse py-spy's raw (collapsed stack) output: `frame;frame;...;frame count` per line."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        samples += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            total_counts[frame] += count
    return Frames(samples, self_counts, total_counts)


def _where(frame: str) -> str:
    """`fn (httpx/_client.py:12)` -> `httpx/_client.py`."""
    _, _, where = frame.rpartition(" (")
    return where.rstrip(")").rsplit(":", 1)[0]


def package_of(frame: str) -> str:
    """The top-level package or stdlib module a frame's code lives in."""
    where = _where(frame).lstrip("<").removeprefix("frozen ")
    head = where.split("/", 1)[0]
    return head.removesuffix(".py").rstrip(">") or "?"


def markdown(title: str, frames: Frames, svg: Path, doc_dir: Path, top: int = 10) -> str:
    """Own time by package and by frame, and ragway's own functions by time on the stack."""
    if frames.samples == 0:
        return f"**{title}**: no samples recorded."
    rel = os.path.relpath(svg.resolve(), doc_dir.resolve())
    tables = [
        (["package (own time)", "% samples"], frames.by_package()),
        (["frame (own time)", "% samples"], frames.self_counts),
        (["ragway function (on the stack)", "% samples"], frames.project_frames()),
    ]
    parts = [f"**{title}**: {frames.samples:,} samples at {RATE_HZ} Hz, flamegraph [{svg.name}]({rel})."]
    for headers, counts in tables:
        rows = [[f"`{name}`", round(100 * n / frames.samples, 1)] for name, n in counts.most_common(top)]
        parts.append(markdown_table(headers, rows))
    return "\n\n".join(parts)
