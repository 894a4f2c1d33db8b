"""Processes the benchmark starts: each in its own process group, bounded, killed on exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and where its log is."""


@dataclass(frozen=True)
class Command:
    """How to start one server and how to tell that it answers."""

    name: str
    argv: list[str]
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    start_timeout_s: float = 90.0


@dataclass
class Running:
    command: Command
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def running(command: Command, log_dir: Path) -> Iterator[Running]:
    """Start *command*, wait until it is ready, and always stop its whole process group afterwards."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{command.name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command.argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **command.env},
            cwd=command.cwd,
            start_new_session=True,
        )
    proc = Running(command, process, log)
    try:
        _wait_ready(proc)
        yield proc
    finally:
        stop(process)


def _wait_ready(proc: Running) -> None:
    deadline = time.monotonic() + proc.command.start_timeout_s
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise BenchError(f"{proc.command.name} exited with {proc.process.returncode}: {last_line(proc.log)}")
        if proc.command.ready():
            return
        time.sleep(0.25)
    raise BenchError(f"{proc.command.name} not ready after {proc.command.start_timeout_s:.0f} s; see {proc.log}")


def last_line(log: Path) -> str:
    """The last non-empty line of a server's log: usually the reason it stopped."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else f"no output (log {log})"


def stop(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after *grace_s*."""
    if process.poll() is not None:
        _kill_group(process.pid, signal.SIGKILL)
        return
    _kill_group(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    _kill_group(process.pid, signal.SIGKILL)
    process.wait(timeout=grace_s)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of *pid* and all its descendants (uvicorn workers are children)."""
    return sum(_rss(p) for p in [pid, *_descendants(pid)])


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of *pid* and its descendants so far; a process gone since counts 0."""
    return sum(_cpu(p) for p in [pid, *_descendants(pid)])


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    children: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            children += [int(c) for c in text]
    except OSError:
        return children
    return children + [d for c in children for d in _descendants(c)]


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:*port* (a stale server would skew the run)."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
