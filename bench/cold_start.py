"""A cold `make run` after install: demo indexes built from nothing, then the gateway started, until /readyz.

`make run` is `ragway index ensure-demo` then `ragway serve` on configs/. This runs the same two
commands on a copy of configs/ in a temporary folder, so no index exists yet and the repo's own
indexes are not touched; XDG_CACHE_HOME points into that folder too, so an embedder backend that
exports the model once (ONNX) pays for the export as a fresh install would. The ports are moved to
free ones so a running gateway or model server does not answer in its place.

    python -m bench.cold_start [--doc docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.bodies import DATA_DIR
from bench.peers import OFFLINE_ENV, REPO_ROOT
from bench.procs import BenchError, last_line, stop
from bench.report import markdown_table, write_section

TITLE = "Cold start"
TARGET_S = 90.0
TIMEOUT_S = 900.0


@dataclass(frozen=True)
class ColdStart:
    indexes_s: float
    serve_s: float

    @property
    def total_s(self) -> float:
        return self.indexes_s + self.serve_s


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_copy(root: Path) -> tuple[Path, int]:
    """configs/ copied under *root* with free ports; the gateway's port."""
    config = root / "configs"
    shutil.copytree(REPO_ROOT / "configs", config)
    gateway = yaml.safe_load((config / "gateway.yaml").read_text(encoding="utf-8"))
    port = _free_port()
    gateway.setdefault("server", {})["port"] = port
    for name, server in (gateway.get("local_servers") or {}).items():
        server["port"] = _free_port()
        model = (gateway.get("models") or {}).get(name)
        if model and model.get("api_base"):
            model["api_base"] = f"http://127.0.0.1:{server['port']}/v1"
    (config / "gateway.yaml").write_text(yaml.safe_dump(gateway, sort_keys=False), encoding="utf-8")
    return config, port


def measure(root: Path) -> ColdStart:
    """Time ensure-demo, then serve until /readyz answers 200; the server is stopped before returning."""
    config, port = fresh_copy(root)
    env = {**os.environ, **OFFLINE_ENV, "XDG_CACHE_HOME": str(root / "cache")}
    cli = [sys.executable, "-m", "gateway.cli"]
    started = time.monotonic()
    done = subprocess.run([*cli, "index", "ensure-demo", "--config", str(config),
                           "--banking77", str(DATA_DIR / "train.csv")],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise BenchError(f"ensure-demo failed: {(done.stderr or done.stdout).strip()[-300:]}")
    built = time.monotonic()
    log = root / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen([*cli, "serve", "--config", str(config), "--port", str(port)], cwd=REPO_ROOT,
                                  env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", server, log, built + TIMEOUT_S)
        ready = time.monotonic()
    finally:
        stop(server)
    return ColdStart(built - started, ready - built)


def _wait_ready(url: str, server: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"ragway serve exited with {server.returncode}: {last_line(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise BenchError(f"not ready within {TIMEOUT_S:.0f} s; see {log}")


def markdown(result: ColdStart) -> str:
    verdict = "met" if result.total_s <= TARGET_S else f"missed by {result.total_s - TARGET_S:.1f} s"
    rows = [
        ["`ragway index ensure-demo` (banking77 examples and bank docs, from nothing)", round(result.indexes_s, 1)],
        ["`ragway serve` until /readyz answers 200 (model server, embedder, indexes, routes)",
         round(result.serve_s, 1)],
        ["cold `make run`, total", round(result.total_s, 1)],
    ]
    intro = (
        "`make run` after install with no index built: configs/ copied to a temporary folder (ports moved to free "
        "ones, the embedder's export cache empty), then the two commands `make run` runs, timed "
        f"(`python -m bench.cold_start`). Load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the end."
    )
    table = markdown_table(["step", "seconds"], rows)
    return f"{intro}\n\n{table}\n\nTarget ready in <= {TARGET_S:.0f} s: **{verdict}**."


def run_cold_start(doc: Path) -> ColdStart | None:
    """Measure and write the section; None (and the reason in the section) when it could not run."""
    root = Path(tempfile.mkdtemp(prefix="ragway-cold-"))
    try:
        result = measure(root)
    except (BenchError, subprocess.TimeoutExpired) as exc:
        write_section(TITLE, f"Not run: {exc}", doc)
        return None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    write_section(TITLE, markdown(result), doc)
    print(f"cold start: indexes {result.indexes_s:.1f} s + serve {result.serve_s:.1f} s = {result.total_s:.1f} s")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    run_cold_start(args.doc)


if __name__ == "__main__":
    main()
