"""Retrieval benchmark: the latency embed + retrieve adds to a request, with and without micro-batching.

    python -m bench.bench_retrieval [--requests 256] [--concurrency 1 32] [--doc docs/benchmarks.md]

Each request embeds one distinct banking77 test question and searches the banking77-examples
index (k=4). The baseline embeds every request on its own forward pass in a worker thread;
micro-batched requests share forward passes through MicroBatcher (its LRU is off, so no
request is answered from memory). Both run in the same process, on the same texts, one
after the other, and the table gives their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.report import write_section
from gateway.config.gateway_sections import EmbedderConfig
from retrieval.batching import MicroBatcher
from retrieval.build import build_examples_index
from retrieval.embedder import SentenceEmbedder
from retrieval.errors import RetrievalError
from retrieval.index import VectorIndex

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "banking77"
TITLE = "Retrieval: embed + retrieve per request"
INDEX = "banking77-examples"
K = 4
HEADERS = ["embedding", "concurrency", "p50 ms", "p95 ms", "requests/s", "p50 vs baseline", "req/s vs baseline"]
console = Console()
Embed = Callable[[str], Awaitable[np.ndarray]]


@dataclass(frozen=True)
class Cell:
    mode: str
    concurrency: int
    p50_ms: float
    p95_ms: float
    per_second: float
    forward_passes: int


async def drive(texts: Sequence[str], concurrency: int, embed: Embed, index: VectorIndex) -> tuple[list[float], float]:
    """Send every text through embed + search with *concurrency* requests in flight; latencies and wall time."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)
    latencies: list[float] = []

    async def client() -> None:
        while not queue.empty():
            text = queue.get_nowait()
            start = time.perf_counter()
            index.search(await embed(text), K)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


async def measure(
    texts: Sequence[str], concurrency: int, embedder: SentenceEmbedder, index: VectorIndex
) -> tuple[Cell, Cell]:
    """The unbatched baseline, then micro-batching, on the same texts at the same concurrency."""

    async def alone(text: str) -> np.ndarray:
        return (await asyncio.to_thread(embedder.encode, [text]))[0]

    baseline = cell("one pass per request", concurrency, *await drive(texts, concurrency, alone, index), len(texts))
    settings = EmbedderConfig()
    batcher = MicroBatcher(embedder, settings.batch_max, settings.batch_wait_ms, cache_size=0,
                           sub_batch=settings.sub_batch)
    try:
        timing = await drive(texts, concurrency, batcher.embed, index)
    finally:
        await batcher.aclose()
    return baseline, cell("micro-batched", concurrency, *timing, batcher.forward_passes)


def cell(mode: str, concurrency: int, latencies: list[float], wall_s: float, passes: int) -> Cell:
    ms = np.asarray(latencies) * 1000
    p50, p95 = (float(np.percentile(ms, q)) for q in (50, 95))
    return Cell(mode, concurrency, p50, p95, len(latencies) / wall_s, passes)


def search_only_ms(index: VectorIndex, vectors: np.ndarray) -> float:
    start = time.perf_counter()
    for vector in vectors:
        index.search(vector, K)
    return (time.perf_counter() - start) * 1000 / len(vectors)


def load_index(embedder: SentenceEmbedder, indexes_dir: Path) -> VectorIndex:
    """The built demo index when it matches the embedder; otherwise one built now in a temporary folder."""
    try:
        return VectorIndex.load(indexes_dir / INDEX, embedder.model_id, embedder.dim)
    except RetrievalError:
        console.print(f"{INDEX} not built in {indexes_dir}: building it in a temporary folder (minutes)")
    scratch = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    build_examples_index(INDEX, DATA / "train.csv", embedder, scratch)
    return VectorIndex.load(scratch / INDEX, embedder.model_id, embedder.dim)


def rows(pairs: list[tuple[Cell, Cell]]) -> list[list[object]]:
    table: list[list[object]] = []
    for baseline, batched in pairs:
        for c in (baseline, batched):
            label = f"{c.mode} ({c.forward_passes} passes)"
            p50_ratio = f"{c.p50_ms / baseline.p50_ms:.2f}x"
            rate_ratio = f"{c.per_second / baseline.per_second:.2f}x"
            table.append([label, c.concurrency, c.p50_ms, c.p95_ms, c.per_second, p50_ratio, rate_ratio])
    return table


def markdown(table: list[list[object]], notes: list[str]) -> str:
    def fmt(value: object) -> str:
        return f"{value:,.1f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table]
    return "\n".join([*notes, "", *lines, ""])


def show(table: list[list[object]]) -> None:
    view = Table(title=TITLE)
    for header in HEADERS:
        view.add_column(header, justify="left" if header == "embedding" else "right")
    for row in table:
        view.add_row(*(f"{v:,.1f}" if isinstance(v, float) else str(v) for v in row))
    console.print(view)


def question_texts(n: int) -> list[str]:
    with (DATA / "test.csv").open(newline="", encoding="utf-8") as handle:
        texts = list(dict.fromkeys(record["text"] for record in csv.DictReader(handle)))
    return texts[:n]


async def run(args: argparse.Namespace) -> str:
    # One query per search is too little work to share across OpenMP threads; spreading it only adds waiting.
    faiss.omp_set_num_threads(1)
    settings = EmbedderConfig()
    embedder = SentenceEmbedder(settings.model, settings.device, settings.threads, settings.precision)
    index = load_index(embedder, args.indexes_dir)
    texts = question_texts(args.requests)
    embedder.encode(texts[:64])  # warm-up: first passes pay for lazy initialisation
    load_before = os.getloadavg()[0]
    pairs = [await measure(texts, concurrency, embedder, index) for concurrency in args.concurrency]
    table = rows(pairs)
    show(table)
    search_ms = search_only_ms(index, embedder.encode(texts[:64]))
    notes = [
        f"{len(texts)} distinct banking77 test questions per row; search = {INDEX} "
        f"({len(index):,} rows, {index.manifest.index_type}, k={K}, FAISS on 1 thread), "
        f"{search_ms:.2f} ms per search alone.",
        f"Model {embedder.model_id} in {embedder.precision} on {settings.threads} torch thread(s), "
        f"{os.cpu_count()} cores; micro-batching with the gateway's defaults: max_batch {settings.batch_max}, "
        f"sub-batches of {settings.sub_batch}, wait {settings.batch_wait_ms:g} ms, LRU off.",
        f"Load average (1 min) {load_before:.1f} before and {os.getloadavg()[0]:.1f} after: other work on the "
        "machine inflates every number; compare the ratio columns, measured in the same run.",
    ]
    return markdown(table, notes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_retrieval", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256, help="requests per row (default 256)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32], help="default: 1 32")
    parser.add_argument("--indexes-dir", type=Path, default=REPO / "indexes")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    body = asyncio.run(run(args))
    write_section(TITLE, body, args.doc)
    console.print(f"wrote section '{TITLE}' in {args.doc}")


if __name__ == "__main__":
    main()
