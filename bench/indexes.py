"""The RAG route's indexes, built once with `ragway index build` into bench/.run/indexes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.bodies import DATA_DIR
from bench.peers import OFFLINE_ENV, REPO_ROOT
from bench.procs import BenchError

EXAMPLES = "bench-examples"
DOCUMENTS = "bench-docs"
DOCS_DIR = REPO_ROOT / "configs" / "docs" / "bank"
MANIFEST = "manifest.json"


def ensure_indexes(indexes_dir: Path, timeout_s: float = 1200) -> None:
    """Build the example index (banking77 train) and the document index (the demo bank docs) if absent."""
    sources = {EXAMPLES: ["--examples", str(DATA_DIR / "train.csv")], DOCUMENTS: ["--docs", str(DOCS_DIR)]}
    for name, source in sources.items():
        if (indexes_dir / name / MANIFEST).exists():
            continue
        if not Path(source[1]).exists():
            raise BenchError(f"cannot build index {name}: {source[1]} is missing")
        argv = [sys.executable, "-m", "gateway.cli", "index", "build", "--name", name, *source]
        argv += ["--indexes-dir", str(indexes_dir)]
        _run(argv, timeout_s)


def _run(argv: list[str], timeout_s: float) -> None:
    try:
        done = subprocess.run(
            argv,
            cwd=REPO_ROOT,
            env={**os.environ, **OFFLINE_ENV},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"index build did not finish in {timeout_s:.0f} s: {' '.join(argv)}") from None
    if done.returncode != 0:
        raise BenchError(f"index build failed: {last_words(done.stderr or done.stdout)}")


def last_words(output: str) -> str:
    """The last line of a CLI's output that says something, without rich's box drawing."""
    for line in reversed(output.splitlines()):
        text = line.strip(" │╭╮╰╯─\t")
        if any(c.isalnum() for c in text):
            return text[:200]
    return "no output"
