"""`ragway index add` of thousands of rows to the million-row index while the gateway serves it.

One client sends RAG requests back to back (concurrency 1, a different banking77 test question
each time, every tenth asking for an added row's exact text); `ragway index add` runs meanwhile
as its own process. Each request's latency is put in the phase it started in: before the add,
while it embeds and writes, while the gateway loads the new version, and after it serves it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml

from bench import peers
from bench.ann_data import Base
from bench.bodies import user_texts
from bench.procs import BenchError, running
from bench.report import markdown_table

ROUTE = "rag1m"
BEFORE_S = 10.0
AFTER_S = 10.0
ADD_TIMEOUT_S = 1800.0
PROBE_EVERY = 10


@dataclass
class Sample:
    started: float
    latency_ms: float
    ok: bool
    new_rows: bool


@dataclass
class Client:
    """Requests back to back from a thread, until stopped; each one timed and checked."""

    url: str
    headers: dict[str, str]
    texts: list[str]
    probe: str
    first_new_row: int
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        while not self._stop.is_set():
            probing = n % PROBE_EVERY == 0
            text = self.probe if probing else self.texts[n % len(self.texts)]
            n += 1
            started = time.monotonic()
            ok, rows = self._ask(text)
            latency = (time.monotonic() - started) * 1000
            self.samples.append(Sample(started, latency, ok, probing and any(r >= self.first_new_row for r in rows)))

    def stop(self) -> None:
        self._stop.set()

    def _ask(self, text: str) -> tuple[bool, list[int]]:
        data = json.dumps({"model": ROUTE, "max_tokens": 16, "messages": [{"role": "user", "content": text}]}).encode()
        request = urllib.request.Request(self.url, data=data, method="POST",
                                         headers={"Content-Type": "application/json", **self.headers})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                found = response.headers.get("x-ragway-retrieved") or ""
                response.read()
                return response.status == 200, [int(hit.split(":")[1]) for hit in found.split(",") if hit]
        except (urllib.error.URLError, OSError, ValueError):
            return False, []


def serve_config(indexes_dir: Path, name: str, run_dir: Path) -> Path:
    """bench/configs' gateway.yaml with one route retrieving 4 examples from index *name*."""
    root = run_dir / "serve-config"
    shutil.rmtree(root, ignore_errors=True)
    (root / "routes").mkdir(parents=True)
    gateway = yaml.safe_load((peers.RAGWAY_CONFIG / "gateway.yaml").read_text(encoding="utf-8"))
    gateway["indexes_dir"] = str(indexes_dir.resolve())
    gateway["log"]["url"] = f"sqlite:///{(run_dir / 'serve-log.db').resolve()}"
    (root / "gateway.yaml").write_text(yaml.safe_dump(gateway, sort_keys=False), encoding="utf-8")
    route = {
        "task": "classification",
        "description": "RAG over the million-row synthetic index, in front of the benchmark stub.",
        "system_prompt": "Classify the customer's banking question into one intent label.",
        "targets": {"large": {"model": "stub"}},
        "policy": {"kind": "fixed", "target": "large"},
        "retrieval": {"examples": {"index": name, "k": 4}},
        "cache": {"enabled": False},
    }
    (root / "routes" / f"{ROUTE}.yaml").write_text(yaml.safe_dump(route, sort_keys=False), encoding="utf-8")
    return root


def added_rows_csv(base: Base, count: int, path: Path) -> Path:
    """*count* new labelled rows: training questions with a branch number, so none repeats."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category"])
        for n in range(count):
            source = n % len(base.texts)
            writer.writerow([f"{base.texts[source]} (branch {n})", base.labels[source]])
    return path


def serve_during_add(indexes_dir: Path, name: str, base: Base, count: int, run_dir: Path) -> str:
    """Serve index *name*, add *count* rows to it, and return the markdown of what the client saw."""
    config = serve_config(indexes_dir, name, run_dir)
    csv_path = added_rows_csv(base, count, run_dir / "added.csv")
    first_new = len(list((indexes_dir / name / "rows.jsonl").open(encoding="utf-8")))
    system = peers.ragway(ROUTE, workers=1, config=config)
    command = replace(system.command, start_timeout_s=600.0)  # the model, then a million rows, load first
    with running(peers.stub().command, run_dir / "logs"), running(command, run_dir / "logs"):
        client = Client(system.endpoint.url, dict(h.split(": ", 1) for h in system.endpoint.headers),
                        user_texts(3000), f"{base.texts[(count - 1) % len(base.texts)]} (branch {count - 1})",
                        first_new)
        thread = threading.Thread(target=client.run, daemon=True)
        thread.start()
        try:
            marks = _add_while_serving(client, name, csv_path, indexes_dir, config)
        finally:
            client.stop()
            thread.join(60)
    return _markdown(client.samples, marks, count, first_new)


def _add_while_serving(client: Client, name: str, csv_path: Path, indexes_dir: Path, config: Path) -> dict:
    time.sleep(BEFORE_S)
    argv = [sys.executable, "-m", "gateway.cli", "index", "add", name, "--examples", str(csv_path),
            "--indexes-dir", str(indexes_dir), "--config", str(config)]
    marks = {"add_start": time.monotonic()}
    done = subprocess.run(argv, cwd=peers.REPO_ROOT, env={**os.environ, **peers.OFFLINE_ENV}, capture_output=True,
                          text=True, timeout=ADD_TIMEOUT_S, check=False)
    marks["add_end"] = time.monotonic()
    if done.returncode != 0:
        raise BenchError(f"index add failed: {(done.stderr or done.stdout).strip()[-300:]}")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not any(s.new_rows for s in client.samples):
        time.sleep(0.2)
    served = [s.started for s in client.samples if s.new_rows]
    marks["served"] = min(served) if served else float("inf")
    time.sleep(AFTER_S)
    return marks


def _markdown(samples: list[Sample], marks: dict, count: int, first_new: int) -> str:
    phases = [
        ("before the add", float("-inf"), marks["add_start"]),
        ("`index add` running (embeds, writes, swaps)", marks["add_start"], marks["add_end"]),
        ("gateway loading the new version", marks["add_end"], marks["served"]),
        ("serving the new version", marks["served"], float("inf")),
    ]
    rows = []
    for label, start, end in phases:
        part = [s for s in samples if start <= s.started < end]
        if not part:
            rows.append([label, 0, 0, "—", "—", "—"])
            continue
        ms = np.asarray([s.latency_ms for s in part])
        p50, p99 = np.percentile(ms, [50, 99])
        rows.append([label, len(part), sum(not s.ok for s in part), round(float(p50), 2), round(float(p99), 2),
                     round(float(ms.max()), 1)])
    served_after = marks["served"] - marks["add_end"]
    intro = (
        f"`ragway index add {count:,} rows` to the {first_new:,}-row index while one client sends RAG requests "
        f"back to back (route `{ROUTE}`: embed the question, 4 nearest examples, prompt, stub upstream). "
        f"The add took {marks['add_end'] - marks['add_start']:.1f} s (embedding {count:,} texts with the model "
        f"on the same 2 cores, writing and checksumming the new folder); the gateway answered from the added "
        f"rows {served_after:.1f} s after the swap. Requests by the phase they started in:"
    )
    table = markdown_table(["phase", "requests", "errors", "p50 ms", "p99 ms", "max ms"], rows)
    return "\n\n".join(["**`index add` while serving**", intro, table])
